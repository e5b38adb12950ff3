"""How a claimed job runs and ends, for training and export jobs alike: a heartbeat that also
carries a cancel request into the running job, and the outcome (status, the error in the web
user's words, the summary) that the worker records.
"""
from __future__ import annotations

import _thread
import logging
import threading
import traceback

from ..errors import KonstruktError
from ..execution import WorkerLost
from .db import Job, utcnow

log = logging.getLogger("konstrukt.worker")


class Cancelled(BaseException):
    """Raised from a progress callback: a BaseException, so that compare's per-pipeline error
    handling (which records a failing pipeline and goes on) does not swallow a cancel."""


class Heartbeat(threading.Thread):
    """Beats every few seconds; on a cancel request, interrupts the training in the main thread."""

    def __init__(self, sessions, job_id: int, every: float, interrupt: bool = True):
        super().__init__(daemon=True)
        self.sessions, self.job_id, self.every = sessions, job_id, every
        self.interrupt = interrupt  # False beside the main thread's job: that one must not be hit
        self.stop = threading.Event()
        self.cancelled = False
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                with self.sessions() as db:
                    job = db.get(Job, self.job_id)
                    job.heartbeat_at = utcnow()
                    db.commit()
                    wanted = job.cancel_requested
            except Exception:  # a locked database must not kill the beat
                continue
            with self.lock:
                if wanted and self.interrupt and not self.cancelled and not self.stop.is_set():
                    self.cancelled = True
                    _thread.interrupt_main()


def outcome(train, beat: Heartbeat) -> tuple[str, str | None, dict | None]:
    """Run ``train`` with the heartbeat going; return (status, error, summary)."""
    beat.start()
    try:
        try:
            return "succeeded", None, train()
        finally:
            with beat.lock:
                beat.stop.set()
    except (Cancelled, KeyboardInterrupt):
        return "cancelled", "cancelled by the user", None
    except WorkerLost as exc:
        return "lost", exc.reason, None
    except KonstruktError as exc:  # worded for the web user (no server folders or CLI flags)
        return "failed", service_message(exc), None
    except Exception as exc:
        log.error("training crashed:\n%s", traceback.format_exc())
        return "failed", f"internal error: {type(exc).__name__}: {exc}", None


def service_message(exc: KonstruktError) -> str:
    """A user error as the web app shows it: no server folders, no CLI flags (e.g. a recipe whose
    pretrained weights are not on this server points to “auto”)."""
    message, problems = exc.for_service()
    return "\n".join([message, *problems])
