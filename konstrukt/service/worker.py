"""The local training worker: a separate process that takes jobs from the database and trains.

``python -m konstrukt.service.worker --data-dir D [--database-url URL]`` runs it; the web server
starts one with :class:`WorkerManager`, watches it, and restarts it if it dies (first recovering
the job it was running). Training happens in this process so the web server stays responsive.

One worker per data directory: it holds an exclusive lock on ``worker.lock`` (with its PID inside)
while it lives. A worker started by a server dies with it, even after ``kill -9`` of the server: it
watches a pipe from the server, which the kernel closes when the server goes. A server that starts
and finds the lock held by a worker left from before stops that worker first.
"""
from __future__ import annotations

import _thread
import argparse
import errno
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

from ..blobstore.manifest import LABELS_FILE, Manifest
from ..errors import KonstruktError
from ..execution import Executor, JobSpec, WorkerLost, make_executor
from ..execution.local import LocalExecutor
from .db import Job, Project, make_engine, make_sessionmaker, utcnow
from .jobs import (COMPARE, add_event, claim_next, finish, give_back_or_fail, record_compare_runs,
                   recover_orphans, requeue)
from .settings import Settings
from .blobs import (fetch_job_data, is_local, manifest_key, push_run, run_prefix, store_of,
                    uploaded_names)
from .storage import hide_paths, job_dir, register_data_dir, remove_tree

log = logging.getLogger("konstrukt.worker")


class Cancelled(BaseException):
    """Raised from a progress callback: a BaseException, so that compare's per-pipeline error
    handling (which records a failing pipeline and goes on) does not swallow a cancel."""


def headline(report: dict) -> dict:
    """The few numbers a run list shows (the full report stays in report.json)."""
    test = report.get("test") or {}
    cv = report.get("cv") or {}
    out = {"accuracy": test.get("accuracy"), "f1_macro": test.get("f1_macro"),
           "pipeline": report.get("pipeline"), "train_seconds": report.get("train_seconds")}
    if cv:
        out.update(cv_folds=cv.get("folds"), cv_accuracy_mean=cv.get("accuracy_mean"),
                   cv_accuracy_std=cv.get("accuracy_std"))
    return out


class _Heartbeat(threading.Thread):
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


def job_spec(settings: Settings, project, job, executor) -> JobSpec:
    """The job as plain data; for an executor that ships it, with the manifest of its files."""
    from .. import __version__

    root = job_dir(settings.data_dir, project.id, job.id)
    config = dict(job.config or {})
    train_config = config.get("config") if job.pipeline == COMPARE else config
    store = store_of(settings)
    manifest = store.get_bytes(manifest_key(project.id, job.id)).decode()
    # The files are read by the manifest's class names (labels.csv), never guessed from folder names;
    # a job queued before manifests named classes keeps its class folders.
    data_path = LABELS_FILE if Manifest.from_json(manifest).labelled else ""
    spec = JobSpec(kind="compare" if job.pipeline == COMPARE else "train", name=f"job-{job.id}",
                   task=project.task, pipeline=None if job.pipeline == COMPARE else job.pipeline,
                   config=config, data=root / "data" / data_path, out=root / "run", version=__version__,
                   resources=dict((train_config or {}).get("resources") or {}), data_path=data_path)
    if executor.name != "local":  # the remote side: the store, the job's manifest, where the run goes
        spec.store_url = str(settings.data_dir.resolve()) if is_local(settings) else store.url
        spec.manifest = manifest
        spec.run_prefix = run_prefix(project.id, job.id)
        if not is_local(settings):
            spec.data = None  # no copy here to point the run at: runs are localized when read
    return spec


def run_job(sessions, settings: Settings, job_id: int, executor: Executor | None = None) -> None:
    """Train one claimed job (in this process, or through ``executor``) and record how it ended."""
    executor = executor or LocalExecutor()
    with sessions() as db:
        job = db.get(Job, job_id)
        project = db.get(Project, job.project_id)
        project_id = project.id
        spec = job_spec(settings, project, job, executor)
        root = job_dir(settings.data_dir, project.id, job.id)
        add_event(db, job, {"stage": "prepare", "message": f"started (attempt {job.attempts})"})
        db.commit()
    # a file named in a message is named as uploaded (class/name), never by its stored path
    shown = {**uploaded_names(settings, project_id, job_id, root / "data"),
             root / "data": "your data", root / "run": "the results"}

    def on_progress(event: dict) -> None:
        # Browsers see every field: no server paths (the run's folder is the server's business).
        # (compare's `out` too: its leaderboard is served by the job, not by a folder).
        event = {k: hide_paths(v, shown)
                 if isinstance(v, str) else v for k, v in event.items() if k not in ("run_dir", "out")}
        with sessions() as db:
            job = db.get(Job, job_id)
            if job.cancel_requested:
                raise Cancelled()
            job.progress = event
            job.heartbeat_at = utcnow()
            add_event(db, job, event)
            db.commit()

    def train() -> dict:
        local = executor.name == "local"
        if local:  # the job's files, by its manifest: kept from the queue-time check locally,
            # fetched from a remote store (every file's hash checked) otherwise. A shipped job's
            # worker fetches them itself.
            fetch_job_data(settings, project_id, job_id, root / "data")
        result = executor.run(spec, on_progress)
        if local or is_local(settings):  # the service finds a job's data itself (blobs.job_run):
            from ..artifacts import forget_data_root  # (here: the worker starts without torch)

            forget_data_root(root / "run")  # no server folder stays in a run folder users download
        if spec.kind == "train":
            if local:
                push_run(settings, project_id, job_id, root / "run")
            return headline(result["report"])
        store = store_of(settings)
        if not local and not is_local(settings):  # the task put the comparison into the store:
            store.get_tree(run_prefix(project_id, job_id), root / "run")  # its runs become jobs here
            store.delete_prefix(run_prefix(project_id, job_id))
        with sessions() as db:
            summary = record_compare_runs(db, settings.data_dir, db.get(Job, job_id), result["board"], headline)
            for child in summary["jobs"].values():  # each pipeline's run became a job of its own
                push_run(settings, project_id, child, job_dir(settings.data_dir, project_id, child) / "run")
            push_run(settings, project_id, job_id, root / "run")
            db.commit()
        return summary

    try:
        status, error, summary = _outcome(train, _Heartbeat(sessions, job_id, settings.heartbeat_seconds))
    except SystemExit:
        with sessions() as db:  # the server is stopping: give the job back to the queue
            requeue(db, db.get(Job, job_id), "server stopped; queued again")
        raise
    if error:
        error = hide_paths(error, {root / "data": "your data"})
    if not is_local(settings):  # the store has the run: this machine's copy was a work folder
        remove_tree(root)
        if summary and summary.get("jobs"):
            for child in summary["jobs"].values():
                remove_tree(job_dir(settings.data_dir, project_id, child))
    with sessions() as db:
        if status == "lost":  # the process that ran it died (a Ray worker): queue again or fail
            give_back_or_fail(db, db.get(Job, job_id), error, settings.max_attempts)
        else:
            finish(db, db.get(Job, job_id), status, error=error, summary=summary)


def _outcome(train, beat: _Heartbeat) -> tuple[str, str | None, dict | None]:
    """Run ``train`` with the heartbeat going; return (status, error, summary)."""
    from ..errors import KonstruktError

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


def work_forever(settings: Settings, stop: threading.Event | None = None) -> None:
    """Claim and run jobs until ``stop`` is set (or the process is terminated)."""
    sessions = make_sessionmaker(make_engine(settings.db_url))
    register_data_dir(settings.data_dir)
    stop = stop or threading.Event()
    executor = make_executor(settings.executor, settings.ray_address)
    while executor.name != "local" and not stop.is_set():
        try:  # jobs wait in the queue (nothing is lost) until the cluster answers
            executor.connect()
            log.info("sending jobs to the Ray cluster at %s", settings.ray_address or "(local)")
            break
        except KonstruktError as exc:
            log.error("%s; trying again in 10 s", exc)
            stop.wait(10.0)
    threading.Thread(target=export_forever, args=(sessions, settings, stop), daemon=True,
                     name="konstrukt-exports").start()
    while not stop.is_set():
        job_id = _claim(sessions, exports=False)
        if job_id is None:
            stop.wait(settings.worker_poll_seconds)
            continue
        try:
            run_job(sessions, settings, job_id, executor)
        except KeyboardInterrupt:  # a cancel that landed after the job ended
            pass


def _claim(sessions, exports: bool) -> int | None:
    """The id of the next queued job (an export job when ``exports``) claimed by this process."""
    try:
        with sessions() as db:
            job = claim_next(db, os.getpid(), exports=exports)
            return job.id if job else None
    except Exception:  # the database may be busy or restarting: try again on the next poll
        log.exception("cannot read the job queue")
        return None


def export_forever(sessions, settings: Settings, stop: threading.Event) -> None:
    """Claim and build export jobs until ``stop`` is set: beside training, in a thread of their
    own, so a bundle is not stuck behind an hour of training in the queue."""
    from .exports import run_export

    while not stop.is_set():
        job_id = _claim(sessions, exports=True)
        if job_id is None:
            stop.wait(settings.worker_poll_seconds)
            continue
        try:
            run_export(sessions, settings, job_id)
        except Exception:  # the thread must live on; the job is recovered as orphaned
            log.exception("export job %s crashed", job_id)


LOCK_NAME = "worker.lock"


def claim_lock(data_dir: Path, wait: float = 15.0) -> int:
    """Take the data directory's worker lock (waiting up to ``wait`` s for an old worker to go) and
    write this PID into it; return the open descriptor, held for the life of the process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise SystemExit(f"another worker (pid {lock_holder(data_dir)}) serves {data_dir}; "
                                 "stop it first") from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def lock_holder(data_dir: Path) -> int | None:
    """The PID of the live worker holding ``data_dir``'s lock, or None when nobody holds it."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # we got it: nobody holds it exclusively
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        except OSError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
    finally:
        os.close(fd)


def stop_stale_worker(data_dir: Path, timeout: float = 10.0) -> int | None:
    """Stop a worker left running on ``data_dir`` (by a server that was killed); return its PID."""
    pid = lock_holder(data_dir)
    if pid is None or pid == os.getpid():
        return None
    log.warning("stopping worker %d left running on this data directory by an earlier server", pid)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return pid
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if lock_holder(data_dir) != pid:
                return pid
            time.sleep(0.1)
    return pid


def watch_parent(fd: int) -> None:
    """Exit (as on SIGTERM: the running job goes back to the queue) when file descriptor ``fd``
    reaches EOF, i.e. when the server that holds the other end of the pipe is gone, however it ended.

    It reads the raw descriptor, not ``sys.stdin``: a blocked ``sys.stdin`` read holds the stream's
    lock, and a library that forks (a process pool) then hangs in the child, which closes stdin.
    """

    def wait() -> None:
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        log.warning("the server is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, daemon=True, name="konstrukt-parent-watch").start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="konstrukt-worker", description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url", default=os.environ.get("KONSTRUKT_DATABASE_URL"),
                        help="SQLAlchemy URL (default: $KONSTRUKT_DATABASE_URL, else SQLite in the data dir)")
    parser.add_argument("--storage-url", default=os.environ.get("KONSTRUKT_STORAGE_URL"),
                        help="where samples and runs live (default: $KONSTRUKT_STORAGE_URL, else the data dir)")
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument("--executor", default=os.environ.get("KONSTRUKT_EXECUTOR", "local"),
                        choices=["local", "ray"], help="where jobs train (default: $KONSTRUKT_EXECUTOR or local)")
    parser.add_argument("--ray-address", default=os.environ.get("KONSTRUKT_RAY_ADDRESS"),
                        help="the Ray cluster for --executor ray (default: $KONSTRUKT_RAY_ADDRESS)")
    parser.add_argument("--parent-pipe", action="store_true",
                        help="stop when standard input closes (the server that started this worker died)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.parent_pipe:
        watch_parent(sys.stdin.fileno())
    lock = claim_lock(Path(args.data_dir))  # noqa: F841 -- held (open) until the process ends
    try:
        os.nice(5)  # the web server answers first; training takes what is left
    except OSError:
        pass
    settings = Settings(data_dir=Path(args.data_dir), database_url=args.database_url,
                        storage_url=args.storage_url, heartbeat_seconds=args.heartbeat,
                        executor=args.executor, ray_address=args.ray_address)
    use_store_for_embeddings(settings)
    work_forever(settings)


def use_store_for_embeddings(settings: Settings) -> None:
    """With a remote store, frozen-backbone embeddings are shared through it (keyed as in the local
    cache), so a job on any worker finds what another worker computed."""
    if not is_local(settings):
        store_of(settings).check()
        os.environ["KONSTRUKT_EMBEDDINGS_STORE"] = f"{settings.storage_url.rstrip('/')}/cache"


def worker_env() -> dict[str, str]:
    """The worker's environment. OpenMP threads that sleep instead of spinning while they wait
    (``OMP_WAIT_POLICY=PASSIVE``) keep training fast when the CPU is shared with the web server and
    other programs: on a busy 2-core machine a small CNN trained 4x faster this way."""
    return {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


class WorkerManager:
    """Starts the worker process, restarts it when it dies, and recovers the job it held."""

    def __init__(self, settings: Settings, sessions):
        self.settings, self.sessions = settings, sessions
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="konstrukt-worker-watch")
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        stop_stale_worker(self.settings.data_dir)
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        s = self.settings
        cmd = [sys.executable, "-m", "konstrukt.service.worker", "--data-dir", str(s.data_dir),
               "--heartbeat", str(s.heartbeat_seconds), "--parent-pipe"]
        env = worker_env()
        if s.database_url:  # via the environment: a password in the URL must not show in `ps`
            env["KONSTRUKT_DATABASE_URL"] = s.database_url
        if s.storage_url:
            env["KONSTRUKT_STORAGE_URL"] = s.storage_url
        else:
            env.pop("KONSTRUKT_STORAGE_URL", None)
        env["KONSTRUKT_EXECUTOR"] = s.executor
        if s.ray_address:
            env["KONSTRUKT_RAY_ADDRESS"] = s.ray_address
        else:
            env.pop("KONSTRUKT_RAY_ADDRESS", None)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(s.data_dir / "worker.log", "ab")
        # stdin is a pipe only we write to: when this process dies, however, the worker sees EOF.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logfile, stderr=subprocess.STDOUT,
                                     env=env)
        logfile.close()

    def _watch(self) -> None:
        backoff, ticks = 1.0, 0
        while not self._stop.wait(0.5):
            ticks += 1
            code = self.proc.poll() if self.proc else None
            if code is None:
                if ticks % 20 == 0:  # every ~10 s: a worker that hangs stops sending heartbeats
                    self._recover()
                continue
            self._recover(dead_pid=self.proc.pid, reason=(
                f"the training worker was killed (signal {-code}) while running this job" if code < 0
                else f"the training worker stopped (exit code {code}) while running this job"))
            if self.proc.stdin:
                self.proc.stdin.close()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
            self.restarts += 1
            self._spawn()

    def _recover(self, dead_pid: int | None = None, reason: str | None = None) -> None:
        try:
            with self.sessions() as db:
                recover_orphans(db, max_attempts=self.settings.max_attempts,
                                stale_after=self.settings.stale_after_seconds, dead_pid=dead_pid,
                                reason=reason)
        except Exception:
            log.exception("cannot recover orphaned jobs")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread.is_alive():
            self._thread.join(2)


if __name__ == "__main__":
    main()
