"""YOLO11 classifiers (Ultralytics) as image backbones: the optional extra ``konstrukt[yolo]``.

The network is Ultralytics' own, built from the model YAML shipped in the ``ultralytics`` package
(``yolo11n-cls.yaml``, ``yolo11s-cls.yaml``); konstrukt keeps everything up to the pooled 1280-d
features of its ``Classify`` head (conv → pool) and puts its own head on top.

Ultralytics is AGPL-3.0, so it stays an optional extra (``pip install 'konstrukt[yolo]'``), and
the model card of a model built with it says so (``extra["code_license"]``).

Weights: the official checkpoints (``yolo11n-cls.pt``, ``yolo11s-cls.pt``, Ultralytics' GitHub
release assets) go into the torch hub cache (``$TORCH_HOME/hub/checkpoints``) like every other
download. They are pickles of whole Ultralytics objects: one is read as Ultralytics reads it only
when its SHA-256 equals the pin in :data:`OFFICIAL_SHA256`; any other by torch's weights-only
unpickler allowed nothing but tensors, plain data and network module classes (a pickle that asks
for anything else — a function to call — is refused unopened). Either way it is converted once into
``<name>.safetensors`` beside it; later runs read that file (no pickle). ``--pretrained PATH``
takes a safetensors file, a plain state dict or an Ultralytics checkpoint (restricted as above).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ...errors import ConfigError, WeightsUnavailableError
from ...models.backbones import Backbone, BackboneSpec
from ...models.portable.image_nets import Normalised
from ...models.weights import (WeightSource, fetch_checkpoint, hub_checkpoint_dir, load_strict,
                               read_state_dict)

EXTRA = "pip install 'konstrukt[yolo]'"
ASSETS = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"
HOMEPAGE = "https://github.com/ultralytics/ultralytics"
# SHA-256 of the official checkpoints, the only pickles konstrukt opens as Ultralytics does. NOT
# YET FILLED: they could not be downloaded where this code was written, and Ultralytics publishes
# no checksum file. Without a pin a checkpoint is read by torch's weights-only unpickler allowed
# only network module classes (_unpickle), which is safe for any file; fill in the digest of the
# file from ASSETS (GitHub shows each release asset's sha256) after checking it.
OFFICIAL_SHA256: dict[str, str] = {
    "yolo11n-cls.pt": "",
    "yolo11s-cls.pt": "",
}
# bundles carry konstrukt's own network code; this network is Ultralytics'
TORCH_BUNDLE = ("(its network is Ultralytics' AGPL-3.0 code, which a PyTorch bundle would need installed "
                "beside it: `pip install ultralytics`)")
CODE_LICENSE = {"license": "AGPL-3.0", "url": HOMEPAGE,
                "source": "the network is Ultralytics YOLO11 (its code and model YAML: the package `ultralytics`)"}


def classification_model(yaml: str, nc: int = 1000) -> nn.Module:
    """Ultralytics' ``ClassificationModel`` for ``yaml`` (shipped in the package; nothing downloaded)."""
    if importlib.util.find_spec("ultralytics") is None:
        raise ConfigError(f"{yaml[:-5]} needs Ultralytics, which is not installed",
                          [f"Fix: `{EXTRA}` (Ultralytics is AGPL-3.0), or pick another image pipeline."])
    # Ultralytics checks the network when imported (konstrukt fetches weights itself) and writes a
    # settings file: into konstrukt's cache, not the user's own Ultralytics settings (unless set).
    from ...embeddings import default_cache_dir

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(default_cache_dir() / "ultralytics"))
    os.environ.setdefault("YOLO_VERBOSE", "False")  # no model summary on every build: konstrukt's output is its own
    ClassificationModel = _import_undoing_patches()
    model = ClassificationModel(yaml, nc=nc, verbose=False)
    if not all(layer.f == -1 for layer in model.model):  # the forward below runs the layers in order
        raise ConfigError(f"{yaml}: this Ultralytics version routes layers differently than konstrukt expects",
                          [f"Fix: `{EXTRA}` installs a supported version."])
    return model


def _import_undoing_patches():
    """Ultralytics' ``ClassificationModel``. Importing Ultralytics replaces ``PIL.Image.open`` (on an
    unknown file it tries to install pi-heif and fails with ModuleNotFoundError instead of Pillow's
    error, which konstrukt turns into "cannot read FILE") and ``torch.save`` process-wide; konstrukt
    puts Ultralytics' own saved originals back, so the process behaves as without the extra."""
    from PIL import Image
    from ultralytics.nn.tasks import ClassificationModel
    from ultralytics.utils import patches

    if Image.open is getattr(patches, "image_open", None):
        Image.open = patches._image_open
    if torch.save is getattr(patches, "torch_save", None):
        torch.save = patches._torch_save
    return ClassificationModel


class YoloClsBackbone(Normalised, Backbone):
    """A YOLO11 classifier up to its pooled features: ``(B, 3, H, W)`` in [0, 1] → ``(B, 1280)``.

    The Ultralytics model keeps its module names (official checkpoints load strictly); its final
    linear layer is dropped, so the state dict holds exactly what the forward uses.
    """

    def __init__(self, model: nn.Module, mean, std):
        head = model.model[-1]
        head.linear = nn.Identity()  # konstrukt's head replaces the 1000-class ImageNet layer
        super().__init__(model, mean, std, head.conv.conv.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std  # (B, 3, H, W); YOLO's own mean/std are 0 and 1
        layers = self.model.model
        for layer in layers[:-1]:
            x = layer(x)  # (B, C, H', W')
        return layers[-1].pool(layers[-1].conv(x)).flatten(1)  # (B, 1280)

    def blocks(self) -> list[nn.Module]:
        return [*self.model.model[:-1], self.model.model[-1].conv]


@dataclass(frozen=True)
class UltralyticsCheckpoint(WeightSource):
    """An official Ultralytics checkpoint: on this machine once either the .pt or its converted
    safetensors is in the hub cache."""

    def converted(self) -> Path:
        return hub_checkpoint_dir() / (Path(self.filename).stem + ".safetensors")

    def is_local(self) -> bool:
        return self.converted().is_file() or super().is_local()


def checkpoint(filename: str, what: str) -> UltralyticsCheckpoint:
    return UltralyticsCheckpoint(
        url=ASSETS + filename, filename=filename, license="AGPL-3.0", homepage=HOMEPAGE,
        description=f"{what} ImageNet-1k weights ({filename}), Ultralytics' official release")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pinned_name(digest: str) -> str | None:
    """The official file whose pinned SHA-256 is ``digest``, or None."""
    return next((name for name, pin in OFFICIAL_SHA256.items() if pin and pin == digest), None)


def _module_classes() -> list[type]:
    """Every ``nn.Module`` class of torch and of Ultralytics' network code: all a checkpoint's
    network may be made of. No function and no other class: a pickle cannot call anything else."""
    import importlib
    import inspect
    import pkgutil
    import types

    import torch.nn.modules as torch_modules

    _import_undoing_patches()
    import ultralytics.nn.modules as yolo_modules
    import ultralytics.nn.tasks as yolo_tasks
    from ultralytics.utils import IterableSimpleNamespace

    places = [yolo_tasks, yolo_modules]
    for package in (torch_modules, yolo_modules):
        places += [importlib.import_module(f"{package.__name__}.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    classes = {obj for place in places for obj in vars(place).values()
               if inspect.isclass(obj) and issubclass(obj, nn.Module)}
    return sorted(classes | {IterableSimpleNamespace, types.SimpleNamespace},
                  key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _unpickle(path: Path, trusted: bool) -> object:
    """An Ultralytics checkpoint's objects. The pinned official file is read as Ultralytics does;
    any other is read by torch's weights-only unpickler allowed nothing but tensors, plain data and
    network module classes (so a hostile pickle cannot run code: it fails naming what it asked for)."""
    if trusted:
        return torch.load(str(path), map_location="cpu", weights_only=False)  # the pinned official file
    import pickle

    try:
        with torch.serialization.safe_globals(_module_classes()):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        asked = str(exc).split("Unsupported global: GLOBAL ", 1)[-1].split(" ", 1)[0] if "GLOBAL" in str(exc) else ""
        raise WeightsUnavailableError(
            f"{path.name} was not opened: it asks for {asked or 'something'} beyond tensors and network "
            "modules, and an Ultralytics checkpoint is a pickle, which konstrukt opens only that far",
            ["Fix: pass the official file, weights saved as safetensors (`--pretrained PATH`), or "
             "train from scratch with `--pretrained none`."]) from None


def convert_official(path: Path, filename: str) -> dict[str, torch.Tensor]:
    """The weights of the official ``filename`` at ``path``, written once as safetensors into the
    hub cache. A file whose SHA-256 differs from a pin is refused (partial or altered); without a
    pin it is read by the restricted unpickler (:func:`_unpickle`)."""
    pin, digest = OFFICIAL_SHA256.get(filename, ""), sha256(path)
    if pin and digest != pin:
        raise WeightsUnavailableError(
            f"{path.name} was not opened: its SHA-256 {digest[:16]}… is not the official file's {pin[:16]}…",
            [f"Fix: download {ASSETS + filename} again (a partial or altered file), pass weights saved as "
             "safetensors with `--pretrained PATH`, or train from scratch with `--pretrained none`."],
            weights=filename)
    state = _state_of(_unpickle(path, trusted=bool(pin)), path)
    from safetensors.torch import save_file

    target = hub_checkpoint_dir() / (Path(filename).stem + ".safetensors")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    save_file(state, str(partial), metadata={"source": filename, "sha256": digest})
    partial.replace(target)  # whole or not at all: a crash leaves no half-written cache file
    return state


def _state_of(ckpt: object, path: Path) -> dict[str, torch.Tensor]:
    """The float state dict of a checkpoint's EMA model (when it holds one) or model."""
    model = (ckpt["ema"] if ckpt.get("ema") is not None else ckpt.get("model")) if isinstance(ckpt, dict) else ckpt
    if not isinstance(model, nn.Module):
        raise WeightsUnavailableError(f"{path.name} holds no Ultralytics model",
                                      ["Fix: pass an Ultralytics classification checkpoint or a safetensors file."])
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}


def _from_file(path: Path, name: str) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return read_state_dict(path)
    official = pinned_name(sha256(path))
    if official:
        converted = hub_checkpoint_dir() / (Path(official).stem + ".safetensors")
        return read_state_dict(converted) if converted.is_file() else convert_official(path, official)
    try:
        return read_state_dict(path)  # a plain state dict (torch.load(weights_only=True): never objects)
    except WeightsUnavailableError:
        return _state_of(_unpickle(path, trusted=False), path)  # an Ultralytics checkpoint, restricted


def pretrained_state(spec: BackboneSpec, pretrained: str) -> dict[str, torch.Tensor] | None:
    """The weights for ``pretrained`` (resolved: none, a tag, or a file), or None for random init."""
    if pretrained == "none":
        return None
    if pretrained in spec.weights:
        source = spec.weights[pretrained]
        if source.converted().is_file():
            return read_state_dict(source.converted())
        return convert_official(fetch_checkpoint(source, f"{spec.name}.{pretrained}"), source.filename)
    return _from_file(Path(pretrained), spec.name)


def yolo_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    """Build the network with its 1000-class head so the checkpoint loads strictly, then drop that layer."""
    model = classification_model(spec.extra["yaml"])
    state = pretrained_state(spec, pretrained)
    if state is not None:
        load_strict(model, state, f"{spec.name} (Ultralytics {spec.extra['yaml']})")
    return YoloClsBackbone(model, spec.input.mean, spec.input.std)


def backbone_specs(image_input, models) -> list[BackboneSpec]:
    """The YOLO11 classifier backbones; ``image_input``: the image wing's input record type,
    ``models``: (name, model YAML, reference figures) each."""
    return [BackboneSpec(
        name=name, modality="image", factory=yolo_factory, num_features=1280,
        input=image_input(224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        weights={"imagenet": checkpoint(yaml[:-5] + ".pt", "YOLO" + yaml[4:-5])},
        default_weights="imagenet", extra={"yaml": yaml, "config_overrides": {}, "code_license": CODE_LICENSE,
                                           "torch_bundle": TORCH_BUNDLE},
        description=f"Ultralytics {yaml[:-5]} (AGPL-3.0; optional extra), architecture from its model "
                    f"YAML, ImageNet-1k weights; classifier removed, pooled 1280-d features ({ref})",
        packages=("ultralytics",),
    ) for name, yaml, ref in models]
