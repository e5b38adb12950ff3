"""Stand-alone bundles of a trained run, built by the worker as jobs of their own.

Building a bundle takes seconds to minutes (ONNX export, INT8 quantisation, a parity check), so a
request only queues it: ``POST /api/jobs/{id}/exports`` answers at once with an export job
(``pipeline == "export"``, ``config == {"run_job", "format"}``) whose progress streams like a
training job's; once it has succeeded, ``GET /api/jobs/{id}/export?format=…`` downloads the zip.
The zip is kept beside the run, one per format, and reused until the run changes: asking again
for a bundle that is built, or being built, returns that job instead of building it twice.
"""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import blobs
from .db import Job
from .jobs import EXPORT, TERMINAL, add_event
from .quotas import lock_owner
from .settings import Settings

FORMAT_LABELS = {"bundle": "PyTorch bundle", "onnx": "ONNX bundle", "onnx-int8": "ONNX INT8 bundle",
                 "all": "bundle with every format", "web": "web page"}


def export_path(run_folder: Path, fmt: str) -> Path:
    """Where the zip of ``fmt`` is kept: beside the run folder (deleted with the job)."""
    return run_folder.parent / f"export-{fmt}.zip"


def download_name(run_job_id: int, fmt: str) -> str:
    """The zip's name when downloaded, also its top folder (files do not spill when unzipped)."""
    return f"konstrukt-{run_job_id}-{fmt}"


def is_fresh(run_folder: Path, fmt: str) -> bool:
    """The zip exists and was built after the run's report was written."""
    zip_path, report = export_path(run_folder, fmt), run_folder / "report.json"
    return zip_path.is_file() and report.is_file() and zip_path.stat().st_mtime >= report.stat().st_mtime


def export_jobs_of(db: Session, run_job: Job) -> list[Job]:
    """The export jobs of ``run_job``, newest first."""
    rows = db.scalars(select(Job).where(Job.project_id == run_job.project_id, Job.pipeline == EXPORT)
                      .order_by(Job.id.desc())).all()
    return [j for j in rows if (j.config or {}).get("run_job") == run_job.id]


def request_export(db: Session, settings: Settings, run_job: Job, user_id: int, fmt: str) -> Job:
    """The export job that builds (or built) ``fmt`` of ``run_job``: an active or still valid one
    if there is one, else a new queued one. Looked up and inserted under the owner's lock, so two
    clicks at once queue one job."""
    folder = blobs.run_folder(settings, run_job.project_id, run_job.id)
    fresh = is_fresh(folder, fmt)
    lock_owner(db, user_id)
    for job in export_jobs_of(db, run_job):
        if job.config.get("format") != fmt:
            continue
        if job.status not in TERMINAL or (job.status == "succeeded" and fresh):
            db.rollback()
            return job
    job = Job(project_id=run_job.project_id, pipeline=EXPORT, status="queued",
              config={"run_job": run_job.id, "format": fmt})
    db.add(job)
    db.flush()
    add_event(db, job, {"stage": "queued", "message": f"{FORMAT_LABELS[fmt]} queued"})
    db.commit()
    return job


def build_export(settings: Settings, run_job: Job, fmt: str, say: Callable[[str], None]) -> Path:
    """Build (or reuse) the zip of ``fmt`` for ``run_job``; ``say`` hears each step."""
    from ..exporting import export

    folder = blobs.run_folder(settings, run_job.project_id, run_job.id)
    zip_path = export_path(folder, fmt)
    if is_fresh(folder, fmt):
        return zip_path
    with build_lock(zip_path):  # two builders of one zip (a retried job): one builds, one reuses
        if is_fresh(folder, fmt):
            return zip_path
        run = blobs.job_run(settings, run_job, folder)  # its held-out files (parity), found here
        say(f"building the {FORMAT_LABELS[fmt]}")
        export(run, zip_path, fmt, force=True, say=say, top=download_name(run_job.id, fmt))
    return zip_path


_BUILD_LOCKS: dict[str, threading.Lock] = {}
_BUILD_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def build_lock(path: Path):
    """Hold ``path``'s build lock: a thread lock in this process, and a file lock (``flock``)
    beside it across processes, so an artefact is built once however many ask at once."""
    with _BUILD_LOCKS_GUARD:
        lock = _BUILD_LOCKS.setdefault(str(path), threading.Lock())
    with lock, open(path.with_name(f".{path.name}.lock"), "a") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: the thread lock alone
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_export(sessions, settings: Settings, job_id: int) -> None:
    """Build one claimed export job (in the worker process) and record how it ended."""
    from ..errors import DataError
    from .db import utcnow
    from .jobs import finish
    from .storage import hide_paths
    from .heartbeat import Cancelled, Heartbeat, outcome

    with sessions() as db:
        job = db.get(Job, job_id)
        run_job, fmt = db.get(Job, (job.config or {}).get("run_job")), (job.config or {}).get("format")
        add_event(db, job, {"stage": "prepare", "message": f"started (attempt {job.attempts})"})
        db.commit()
    folder = blobs.run_folder(settings, run_job.project_id, run_job.id) if run_job else None

    def say(message: str) -> None:
        with sessions() as db:
            job = db.get(Job, job_id)
            if job.cancel_requested:
                raise Cancelled()
            event = {"stage": "export", "message": hide_paths(message, {folder: "the run"} if folder else None)}
            job.progress, job.heartbeat_at = event, utcnow()
            add_event(db, job, event)
            db.commit()

    def build() -> dict:
        if run_job is None or run_job.status != "succeeded" or fmt not in FORMAT_LABELS:
            raise DataError("the run to export is gone or has not succeeded; train again, then export")
        path = build_export(settings, run_job, fmt, say)
        return {"run_job": run_job.id, "format": fmt, "bytes": path.stat().st_size}

    beat = Heartbeat(sessions, job_id, settings.heartbeat_seconds, interrupt=False)
    status, error, summary = outcome(build, beat)
    if error:
        error = hide_paths(error, {folder: "the run"} if folder else None)
    with sessions() as db:
        finish(db, db.get(Job, job_id), status, error=error, summary=summary)
