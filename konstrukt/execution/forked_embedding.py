"""Part of an embedding pass in a forked process, while this one does work that needs the GIL.

A first model on a few dozen photos spends ~1 s importing scikit-learn (the flip check, the folds,
the reference model and the metrics need it) and ~1.5 s embedding. An import holds the GIL, so it
cannot overlap torch's kernels well on a thread of the same process (tried: the import took 1.3 s
instead of 0.9 s beside the embedding thread); a forked process embeds on the other core meanwhile
and writes what it computes into the embedding cache, where the run's embedding pass finds it.

Only where it is safe and useful (as :mod:`.forked_folds`): Linux (fork), the CPU, at least two
cores, not inside a Ray task, a cache to write to. Anything the child fails to compute is computed
again by the run's own pass: the cache only ever holds finished entries (``EmbeddingCache.put``).
"""
from __future__ import annotations

import contextlib
import os
import sys
import traceback
from multiprocessing import get_context
from typing import Any, Sequence

from ..runtime import cores
from . import children


def useful(device, cache) -> bool:
    """Whether an embedding pass on ``device`` into ``cache`` may run in a forked process."""
    in_ray_task = bool(os.environ.get("KONSTRUKT_NUM_THREADS"))
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and cores() >= 2
            and device.type == "cpu" and cache is not None and not in_ray_task
            and os.environ.get("KONSTRUKT_FORKED_EMBEDDING", "1") != "0")


@contextlib.contextmanager
def embedding_aside(backbone, pre, items: Sequence[tuple[Any, str, int]], cache, device,
                    batch_size: int = 32):
    """Embed ``items`` (decoded sample, content digest, view) into ``cache`` in a forked process on
    one thread while the block runs here; wait for it when the block ends (stop it on an error).
    Where that is not :func:`useful`, the block just runs."""
    if not items or not useful(device, cache):
        yield
        return
    sys.stdout.flush()  # a forked copy of unwritten output would be written twice
    sys.stderr.flush()
    child = get_context("fork").Process(target=_child, args=(backbone, pre, items, cache, batch_size,
                                                             os.getpid()),
                                        name="konstrukt-embedding", daemon=True)
    child.start()
    try:
        yield
    except BaseException:
        child.terminate()
        child.join()
        raise
    child.join()


def _child(backbone, pre, items, cache, batch_size: int, parent: int) -> None:
    import torch

    from ..embeddings import embed_views

    children.become_child(parent)
    torch.set_num_threads(1)  # the other core is the parent's
    try:
        embed_views(backbone, pre, items, cache, torch.device("cpu"), batch_size=batch_size)
    except BaseException:  # noqa: BLE001 — the parent's own pass computes what is missing
        traceback.print_exc()
        sys.exit(1)
