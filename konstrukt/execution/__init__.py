"""Where trainings run: the executor seam.

An :class:`~konstrukt.execution.base.Executor` takes a :class:`~konstrukt.execution.base.JobSpec`
(plain data: task, pipeline, config, where the files are) and runs it, relaying progress events and
stopping when asked. Two implementations, picked by name:

- ``local`` (:mod:`.local`): in this process — the service's worker process, or the CLI itself.
- ``ray`` (:mod:`.ray_executor`): as a task on a Ray cluster; the task fetches the job's files from
  the blob store (:func:`konstrukt.blobstore.materialize`) and puts the run folder back.
"""
from __future__ import annotations

import os

from .base import Executor, ExecutorError, JobSpec, WorkerLost

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "JobSpec", "WorkerLost", "make_executor",
           "require_ray"]

EXECUTORS = ("local", "ray")
INSTALL_HINT = "pip install 'konstrukt[scale]'"


def require_ray():
    """The ``ray`` module, or an ExecutorError (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorError("the Ray executor needs Ray, which is not installed",
                            [f"Fix: {INSTALL_HINT}  (or use --executor local)"]) from None
    return ray


def make_executor(name: str | None = None, address: str | None = None) -> Executor:
    """The executor called ``name`` (default ``$KONSTRUKT_EXECUTOR`` or ``local``); ``address`` is
    the Ray cluster (default ``$KONSTRUKT_RAY_ADDRESS``; none: a Ray started in this process)."""
    name = (name or os.environ.get("KONSTRUKT_EXECUTOR") or "local").strip().lower()
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        require_ray()
        from .ray_executor import RayExecutor

        return RayExecutor(address or os.environ.get("KONSTRUKT_RAY_ADDRESS") or None)
    raise ExecutorError(f"unknown executor {name!r}", [f"Fix: use one of {', '.join(EXECUTORS)}"])
