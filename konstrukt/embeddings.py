"""Frozen-backbone embeddings, computed once and cached on disk.

Key: (file content hash, backbone, weights, preprocessing signature, view index). View 0 is the
clean input; view k ≥ 1 is augmented with a seed derived from the content hash and k, so the same
view is the same tensor in every run, fold and head change — and is computed only once. Clean
inputs are kept under the signature of what decides them alone (``clean_key``: for photos, the
size), so other augmentation settings reuse them.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .preprocess import Preprocessor


def default_cache_dir() -> Path:
    return Path(os.environ.get("KONSTRUKT_CACHE") or Path.home() / ".cache" / "konstrukt")


def view_seed(digest: str, view: int) -> int:
    """Deterministic augmentation seed for one (content, view) pair."""
    return (int(digest[:12], 16) + 1_000_003 * view) % 2**63


class EmbeddingCache:
    """One folder per (backbone, weights, preprocessing); one ``.npy`` per (content, view).

    With a blob store (``store``, or the URL in ``KONSTRUKT_EMBEDDINGS_STORE``, which the service's
    worker sets when samples live in object storage) the entries are also kept there under the
    same names, so a job on any worker finds the embeddings another worker computed; the local
    folder stays the first place looked in."""

    def __init__(self, root: Path | str, key: str, store=None, clean_key: str | None = None):
        self.key = key
        self.name = hashlib.sha1(key.encode()).hexdigest()[:20]
        self.clean_name = hashlib.sha1(clean_key.encode()).hexdigest()[:20] if clean_key else self.name
        self.root = Path(root) / "embeddings"
        if store is None and os.environ.get("KONSTRUKT_EMBEDDINGS_STORE"):
            from .blobstore import open_store

            store = open_store(os.environ["KONSTRUKT_EMBEDDINGS_STORE"])
        self.store = store
        self.remote_hits = 0

    def _folder(self, view: int) -> str:
        return self.clean_name if view == 0 else self.name

    def _path(self, digest: str, view: int) -> Path:
        return self.root / self._folder(view) / digest[:2] / f"{digest}_{view}.npy"

    def _key(self, digest: str, view: int) -> str:
        return f"embeddings/{self._folder(view)}/{digest[:2]}/{digest}_{view}.npy"

    def get(self, digest: str, view: int) -> np.ndarray | None:
        path = self._path(digest, view)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass  # missing or half-written by a killed process: the store, else recompute
        if self.store is None:
            return None
        from .errors import StorageError

        try:
            data = self.store.get_bytes(self._key(digest, view))
            value = np.load(io.BytesIO(data), allow_pickle=False)
        except (StorageError, OSError, ValueError) as exc:
            self._give_up_if_down(exc)
            return None  # not there (or unreadable): computing it again is always correct
        self._write_local(path, data)
        self.remote_hits += 1
        return value

    def put(self, digest: str, view: int, value: np.ndarray) -> None:
        buf = io.BytesIO()
        np.save(buf, value.astype(np.float32), allow_pickle=False)
        self._write_local(self._path(digest, view), buf.getvalue())
        if self.store is not None:
            from .errors import StorageError

            try:
                self.store.put_bytes(self._key(digest, view), buf.getvalue())
            except StorageError as exc:
                self._give_up_if_down(exc)  # a cache: training goes on; others compute it again

    def _give_up_if_down(self, exc: Exception) -> None:
        from .errors import StorageUnavailable

        if isinstance(exc, StorageUnavailable):  # do not wait for an unreachable store per entry
            self.store = None

    def _write_local(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: readers never see a partial file


CPU_BATCH_INPUT_BYTES = 5 << 20  # ~8 photos at 224 px; short clips and signals: the whole batch
# batches whose activations outgrow what glibc reuses (runtime.keep_freed_memory): 8 photos at 224 px
LARGE_BATCH_BYTES = 4 << 20


def cpu_batch_size(example: torch.Tensor, batch_size: int) -> int:
    """How many inputs like ``example`` to embed at once on a CPU: at most ``batch_size``, and a
    batch of at most ~5 MB. A CPU gains nothing from big batches, while their activations grow with
    them: EfficientNet-Lite0 on 32 photos at 224 px peaked at 1.27 GB RSS, on 8 at 0.94 GB, in
    the same time (bench/first_model.py's floor)."""
    per_input = max(1, example.numel() * example.element_size())
    return max(1, min(batch_size, CPU_BATCH_INPUT_BYTES // per_input))


@torch.inference_mode()
def embed_views(backbone: torch.nn.Module, pre: Preprocessor, items: Sequence[tuple[Any, str, int]],
                cache: EmbeddingCache | None, device: torch.device, batch_size: int = 32,
                on_batch: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Embeddings (N, D) of ``items`` = (decoded sample, content digest, view), cache first.

    Missing entries are computed in batches under ``inference_mode`` with the backbone in eval mode.
    """
    from .runtime import ChannelsLast, keep_freed_memory

    backbone.eval().to(device)
    out: list[np.ndarray | None] = [cache.get(d, v) if cache else None for _, d, v in items]
    todo = [i for i, e in enumerate(out) if e is None]
    done, step = 0, None
    with ChannelsLast(backbone) as layout:
        def flush(idx: list[int], tensors: list[torch.Tensor]) -> None:
            nonlocal done
            feats = backbone(layout(torch.stack(tensors).to(device))).float().cpu().numpy()  # (b, D)
            for i, f in zip(idx, feats):
                out[i] = f
                if cache:
                    cache.put(items[i][1], items[i][2], f)
            done += len(idx)
            if on_batch:
                on_batch(done, len(todo))

        idx, tensors = [], []
        for i in todo:
            tensors.append(pre.tensor(items[i][0], augment=items[i][2] > 0,
                                      seed=view_seed(items[i][1], items[i][2])))
            idx.append(i)
            if step is None:  # sized by the first input
                step = cpu_batch_size(tensors[0], batch_size) if device.type == "cpu" else batch_size
                batch_bytes = step * tensors[0].numel() * tensors[0].element_size()
                if device.type == "cpu" and batch_bytes >= LARGE_BATCH_BYTES:
                    keep_freed_memory()  # their activations: reused batch after batch, not faulted in
            if len(idx) == step:
                flush(idx, tensors)
                idx, tensors = [], []
        if idx:
            flush(idx, tensors)
    if not items:
        return torch.empty(0, getattr(backbone, "num_features", 0))
    return torch.from_numpy(np.stack(out))  # (N, D)
