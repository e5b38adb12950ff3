"""The executor interface and the plain-data description of one job."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import KonstruktError


class ExecutorError(KonstruktError):
    """The executor cannot be used (Ray missing, cluster unreachable, version mismatch)."""


class WorkerLost(RuntimeError):
    """The process running the job died (a Ray worker killed, a node lost): not the job's fault,
    so the service may queue it again. ``reason`` says what happened, for the job's events."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class JobSpec:
    """One training (``kind`` train) or comparison (``kind`` compare), as plain data.

    ``data``/``out`` are folders on this machine (the local executor trains there in place).
    ``store_url`` + ``manifest`` + ``data_path`` + ``run_prefix`` is the shippable form: a remote
    worker opens the store, materializes the manifest, trains on ``<folder>/<data_path>`` and puts
    the run folder under ``run_prefix``.
    """

    kind: str  # train | compare
    name: str  # a label for logs and the Ray dashboard, e.g. "job-12"
    task: str | None = None
    pipeline: str | None = None  # train: one pipeline; compare: None
    config: dict = field(default_factory=dict)  # train: config layer; compare: {"pipelines", "config"}
    overrides: dict = field(default_factory=dict)
    data: Path | None = None
    out: Path | None = None
    store_url: str | None = None
    manifest: str | None = None  # Manifest JSON
    data_path: str = ""  # inside the materialized folder ("" = the folder itself; a .zip/.csv name)
    run_prefix: str | None = None
    resources: dict = field(default_factory=dict)  # {cpus, gpus, memory (GiB)}
    version: str = ""  # konstrukt version of the sender: the worker must run the same

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"] = str(Path(self.data).resolve()) if self.data else None
        d["out"] = str(self.out) if self.out else None
        return d


ProgressFn = Callable[[dict], None]


class Executor(ABC):
    name: str

    @abstractmethod
    def run(self, spec: JobSpec, progress: ProgressFn) -> dict:
        """Run ``spec`` to the end and return its result: ``{"report": ...}`` for a training,
        ``{"board": ...}`` for a comparison, with the run folder at ``spec.out``.

        ``progress`` receives every event as it happens; an exception it raises (a cancel) stops
        the job and propagates, as does KeyboardInterrupt. A KonstruktError from the job is
        re-raised as such; a lost worker process raises :class:`WorkerLost`.
        """

    def connect(self) -> None:
        """Reach the machines that run jobs (a Ray cluster); fail early with an ExecutorError."""

    def close(self) -> None:
        """Release connections (a Ray driver)."""
