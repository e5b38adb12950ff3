"""The local executor: the job runs in this process (the service's worker process or the CLI)."""
from __future__ import annotations

from .base import Executor, JobSpec, ProgressFn
from .steps import run_spec


class LocalExecutor(Executor):
    name = "local"

    def run(self, spec: JobSpec, progress: ProgressFn) -> dict:
        return run_spec(spec.kind, spec.data, spec.out, spec, progress, verbose=True)
