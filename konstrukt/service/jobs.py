"""The job queue, kept in the database so it survives restarts of the server and the worker.

Status moves queued → running → succeeded | failed | cancelled. A worker claims a job with a
conditional UPDATE (safe with several workers), sends a heartbeat while it trains, and writes
progress events. A job left ``running`` by a worker that died is requeued until it has run
``max_attempts`` times, then marked failed with the reason — never left running.
"""
from __future__ import annotations

import json
import os
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .db import Job, JobEvent, Project, utcnow
from .storage import job_dir

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
# A compare job's `pipeline` (no pipeline can have this name: names are checked against the
# registry); its config is {"pipelines": [...], "config": {...}}.
COMPARE = "compare"
# An export job's `pipeline`: it builds a stand-alone bundle of a succeeded run (see exports.py); its
# config is {"run_job": id, "format": ...}. The worker runs exports beside training, not behind it.
EXPORT = "export"
HOST = socket.gethostname()


def snapshot_data(data_dir: Path, project: Project, job: Job) -> Path:
    """The job's manifest and hard-linked ``<class name>/<file>`` folder in the local data directory
    (see :func:`konstrukt.service.blobs.snapshot_job` for any store)."""
    from .blobs import snapshot_job
    from .settings import Settings

    return snapshot_job(Settings(data_dir=data_dir), project, job)


def add_event(db: Session, job: Job, data: dict[str, Any]) -> None:
    db.add(JobEvent(job_id=job.id, data=data))


def claim_next(db: Session, pid: int, exports: bool = False) -> Optional[Job]:
    """Take the oldest queued job for this worker (an export job if ``exports``, else a training
    or compare job), or None."""
    kind = Job.pipeline == EXPORT if exports else Job.pipeline != EXPORT
    while True:
        job_id = db.scalar(select(Job.id).where(Job.status == "queued", kind).order_by(Job.id).limit(1))
        if job_id is None:
            return None
        now = utcnow()
        claimed = db.execute(
            update(Job).where(Job.id == job_id, Job.status == "queued")
            .values(status="running", worker_pid=pid, worker_host=HOST, started_at=now,
                    heartbeat_at=now, attempts=Job.attempts + 1, error=None)
        ).rowcount
        db.commit()
        if claimed:
            return db.get(Job, job_id)


def finish(db: Session, job: Job, status: str, *, error: str | None = None,
           summary: dict | None = None) -> None:
    job.status = status
    job.error = error
    job.summary = summary
    job.finished_at = utcnow()
    job.worker_pid = None
    add_event(db, job, {"stage": status, "message": error or status})
    db.commit()


def requeue(db: Session, job: Job, why: str, *, count_attempt: bool = False) -> None:
    """Put a running job back in the queue (the attempt only counts if ``count_attempt``)."""
    job.status, job.worker_pid, job.started_at = "queued", None, None
    if not count_attempt:
        job.attempts = max(0, job.attempts - 1)
    add_event(db, job, {"stage": "queued", "message": why})
    db.commit()


def request_cancel(db: Session, job: Job) -> None:
    """Cancel a queued job now; ask the worker to stop a running one."""
    if job.status == "queued":
        finish(db, job, "cancelled", error="cancelled before it started")
    elif job.status == "running":
        job.cancel_requested = True
        db.commit()


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_orphaned(job: Job, stale_after: float) -> bool:
    """True when the worker running ``job`` is gone: dead pid on this host, or no heartbeat."""
    if job.worker_host == HOST and not _pid_alive(job.worker_pid):
        return True
    beat = job.heartbeat_at or job.started_at
    return beat is None or utcnow() - beat > timedelta(seconds=stale_after)


def give_back_or_fail(db: Session, job: Job, why: str, max_attempts: int) -> None:
    """A running job whose worker died: queue it again, or fail it with ``why`` after the last attempt
    (cancelled if the user had asked to cancel)."""
    if job.cancel_requested:
        finish(db, job, "cancelled", error="cancelled")
    elif job.attempts < max_attempts:
        requeue(db, job, f"{why}; queued again (attempt {job.attempts + 1} of {max_attempts})",
                count_attempt=True)
    else:
        finish(db, job, "failed", error=f"{why} (attempt {job.attempts} of {max_attempts}); "
                                        "press Train to try again")


def recover_orphans(db: Session, *, max_attempts: int, stale_after: float,
                    dead_pid: int | None = None, reason: str | None = None) -> list[int]:
    """Requeue (or fail, with the reason) every running job whose worker is gone; return their ids."""
    recovered = []
    for job in db.scalars(select(Job).where(Job.status == "running")).all():
        if not (job.worker_pid == dead_pid and dead_pid is not None) and not is_orphaned(job, stale_after):
            continue
        give_back_or_fail(db, job, reason or "the training worker stopped while running this job",
                          max_attempts)
        recovered.append(job.id)
    return recovered


def record_compare_runs(db: Session, data_dir: Path, job: Job, board: dict, headline) -> dict:
    """Turn each finished run of a compare job into a job of its own (Try it, download, compare),
    moving its run folder there; return the compare job's summary (recommendation + run → job id)."""
    runs = {}
    for row in board["rows"]:
        if row["kind"] != "pipeline" or row["status"] != "ok":
            continue
        config = dict((job.config or {}).get("config") or {})
        if row.get("head"):
            config["head"] = row["head"]
        child = Job(project_id=job.project_id, pipeline=row["pipeline"], status="succeeded", config=config,
                    attempts=1, started_at=job.started_at, finished_at=utcnow())
        db.add(child)
        db.flush()
        src = job_dir(data_dir, job.project_id, job.id) / "run" / row["run"]
        dest = job_dir(data_dir, job.project_id, child.id) / "run"
        dest.parent.mkdir(parents=True, exist_ok=True)
        src.rename(dest)
        child.summary = {**headline(json.loads((dest / "report.json").read_text(encoding="utf-8"))),
                         "pipeline": row["name"], "compare_job": job.id}
        runs[row["name"]] = child.id
    rec = board.get("recommendation") or {}
    return {"pipeline": COMPARE, "recommended": rec.get("name"), "recommended_job": runs.get(rec.get("name")),
            "jobs": runs}


def delete_job_files(settings, job: Job) -> None:
    """Remove a job's files here and in the store (``settings`` may be a bare data directory)."""
    from .blobs import forget_job
    from .settings import Settings

    if isinstance(settings, Path):
        settings = Settings(data_dir=settings)
    forget_job(settings, job.project_id, job.id)
