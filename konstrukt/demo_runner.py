"""Run the demo's parts one after another, each in a process forked from this one.

In one process the parts' memory adds up (freed heap is not given back to the system): the whole
demo peaked at ~1.24 GB where each part alone stays lower. Forked after the imports every part
needs (torch, scikit-learn, konstrukt's training stage), each part starts from the shared, already
imported pages and its memory goes when it ends; nothing is imported twice. Where ``fork`` does
not exist, the parts run in this process as before.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Callable

from .errors import KonstruktError


def can_fork() -> bool:
    return hasattr(os, "fork") and sys.platform.startswith("linux")


def _warm_imports() -> None:
    """What every part imports, loaded once before the forks (the children share these pages).

    ``torch._dynamo`` is imported by every optimiser step (torch.optim); nothing here starts a
    thread pool, so the forked children are safe to run torch on several threads."""
    import torch._dynamo  # noqa: F401

    import importlib

    from . import experiment  # noqa: F401 — the training stage: torch, konstrukt
    from . import plots  # noqa: F401 — matplotlib (~0.7 s): every part draws its run's pictures
    from .prepare import LIBRARIES_AFTER_ORIGINALS

    for name in (*LIBRARIES_AFTER_ORIGINALS, "cleanlab.filter"):  # scikit-learn (~1 s), imported lazily
        importlib.import_module(name)


def _child(part: Callable[[], None]) -> int:
    """In the forked process: run ``part``; its exit status (the CLI's codes for errors)."""
    try:
        part()
        return 0
    except KonstruktError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BaseException:  # noqa: BLE001 — the parent reports the status; the trace is printed here
        traceback.print_exc()
        return 1


def run_apart(parts: list[Callable[[], None]]) -> int:
    """Run each of ``parts`` in its own forked process, one after another; stop at the first that
    fails and return its exit status (0 when all succeed)."""
    if not can_fork():
        for part in parts:
            part()
        return 0
    _warm_imports()
    for part in parts:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never return into the parent's code
            status = 1
            try:
                status = _child(part)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        _, wait_status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        if code != 0:
            return code if code > 0 else 1  # killed by a signal: a plain failure
    return 0
