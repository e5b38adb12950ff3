"""Process-level helpers: device choice, seeding, memory and version reporting."""
from __future__ import annotations

import contextlib
import os
import platform
import random
import resource
import signal
import sys

import numpy as np
import torch


def select_device(name: str = "auto") -> torch.device:
    """``auto`` → CUDA if present, else Apple MPS, else CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cores() -> int:
    """Cores this process may use (its CPU affinity where the OS says)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def use_all_cores() -> None:
    """Frozen-backbone passes are compute-bound: let torch use every core we have (or the CPUs a
    Ray task was given: ``KONSTRUKT_NUM_THREADS``, set by the Ray executor)."""
    n = cores()
    if os.environ.get("KONSTRUKT_NUM_THREADS", "").isdigit():
        n = int(os.environ["KONSTRUKT_NUM_THREADS"])
    torch.set_num_threads(max(1, n))


@contextlib.contextmanager
def torch_threads(n: int):
    """Run a block with ``n`` torch intra-op threads (then restore the previous count).

    A head on cached embeddings does a few small matrix products per step; spread over threads
    they spend more time synchronising than computing (a linear head's step measured 0.22 ms on
    one thread and 2.0 ms on two while another job ran; bench/compare_speed.py's linear head
    alone went from 1.35 s to 0.81 s).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ChannelsLast:
    """Feeds a model image batches in channels-last memory: call it on each batch; at the first
    (B, C, H, W) batch the model's 4-D weights move to channels-last too, and leaving the ``with``
    block moves them back. Other batches (waveforms, embeddings, signals) pass unchanged.

    oneDNN's (and cuDNN's) convolutions run faster on channels-last tensors: on a 2-core Xeon an
    EfficientNet-B0 embedding pass at batch 32 took 0.50 s instead of 0.74 s, a B0 training step
    0.44 s instead of 0.63 s, the scratch CNN's 16 ms instead of 19 ms (`bench/layout_speed.py`).
    The weights go back to the standard layout afterwards: run folders (safetensors) and the ONNX
    export want contiguous tensors.
    """

    def __init__(self, model: torch.nn.Module):
        self.model, self.active = model, False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.device.type not in ("cpu", "cuda"):  # Apple MPS: not measured, left as is
            return x
        if not self.active:
            self.model.to(memory_format=torch.channels_last)
            self.active = True
        return x.contiguous(memory_format=torch.channels_last)

    def __enter__(self) -> "ChannelsLast":
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            self.model.to(memory_format=torch.contiguous_format)
            self.active = False


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory when training on CUDA, else the process's peak resident set size
    (since the last :func:`reset_peak_memory`, where the OS allows resetting it)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1024**2
    try:  # Linux: VmHWM can be reset (clear_refs), so each compared pipeline gets its own peak
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 1024**2


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory measurement (CUDA allocator stats; Linux: the process's VmHWM)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError:  # not Linux, or not allowed: the peak then covers the whole process
        pass


def library_versions(*packages: str) -> dict[str, str]:
    """The versions a run or export records: konstrukt, Python, the core libraries, and
    ``packages`` (distributions a backbone's code comes from, e.g. ultralytics)."""
    from importlib.metadata import PackageNotFoundError, version

    from .version import __version__

    def installed(dist: str) -> str:  # from the metadata: importing torchvision costs seconds
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    return {"konstrukt": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": installed("torchvision"), "numpy": np.__version__,
            "scikit-learn": installed("scikit-learn"), **{dist: installed(dist) for dist in packages}}


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM when the parent dies (a killed worker leaves no orphans)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# glibc's malloc: blocks from 64 MiB up come straight from the kernel; freed memory is handed back
# once 256 MiB of it lie free at the top of the heap.
ALLOCATOR_MMAP_BYTES, ALLOCATOR_TRIM_BYTES = 64 << 20, 256 << 20


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed blocks instead of returning each to the kernel (Linux/glibc).

    By default glibc maps every block above a threshold that tops out at 32 MiB fresh from the
    kernel and unmaps it when freed. A model's activations on big inputs are such blocks
    (EfficientNet-Lite0 on 8 photos at 224 px: 38 MB each), so every batch faulted the same memory
    in again: an embedding pass over 139 photos and views spent 4.1–4.7 s in the kernel against
    0.8 s with these settings (bench/first_model.py's floor, /usr/bin/time). Only for such inputs
    (``embeddings.embed_views``): on the demo's small ones (32 px scans, 1 s clips) the process
    kept more memory and took ~2 CPU-s longer. Returns whether they were applied (not on musl,
    macOS or Windows, where this does nothing).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    return bool(mallopt(m_mmap_threshold, ALLOCATOR_MMAP_BYTES) and mallopt(m_trim_threshold, ALLOCATOR_TRIM_BYTES))
