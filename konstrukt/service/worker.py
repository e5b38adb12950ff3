"""The local training worker: a separate process that takes jobs from the database and trains.

``python -m konstrukt.service.worker --data-dir D [--database-url URL]`` runs it; the web server
starts one with :class:`~konstrukt.service.worker_process.WorkerManager`, watches it, and restarts
it if it dies (first recovering the job it was running). Training happens in this process so the
web server stays responsive. This module is what the worker does (claim a job, train or export it,
record how it ended); :mod:`konstrukt.service.worker_process` is how the process lives (its lock,
its watch on the server, the manager that starts it).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ..blobstore.manifest import LABELS_FILE, Manifest
from ..errors import KonstruktError
from ..execution import Executor, JobSpec, make_executor
from ..execution.local import LocalExecutor
from ..modalities import register_all
from .db import Job, Project, make_engine, make_sessionmaker, utcnow
from .jobs import COMPARE, add_event, claim_next, finish, give_back_or_fail, record_compare_runs, requeue
from .settings import Settings
from .blobs import (fetch_job_data, is_local, manifest_key, push_run, run_prefix, store_of,
                    uploaded_names)
from .logs import configure_logging
from .heartbeat import Cancelled, Heartbeat, outcome
from .storage import hide_paths, job_dir, register_data_dir, remove_tree
from .worker_process import claim_lock, watch_parent

log = logging.getLogger("konstrukt.worker")


def headline(report: dict) -> dict:
    """The few numbers a run list shows (the full report stays in report.json)."""
    test = report.get("test") or {}
    cv = report.get("cv") or {}
    out = {"accuracy": test.get("accuracy"), "f1_macro": test.get("f1_macro"),
           "pipeline": report.get("pipeline"), "train_seconds": report.get("train_seconds")}
    if cv:
        out.update(cv_folds=cv.get("folds"), cv_accuracy_mean=cv.get("accuracy_mean"),
                   cv_accuracy_std=cv.get("accuracy_std"))
    if report.get("kind") == "sequence":  # a sequence run is measured in character error rate
        out.update(cer=test.get("cer"), exact_match=test.get("exact_match"), cv_folds=cv.get("k"),
                   cv_cer_mean=cv.get("cer_mean"),
                   cv_cer_std=cv.get("cer_std"))
    return out


def job_spec(settings: Settings, project, job, executor) -> JobSpec:
    """The job as plain data; for an executor that ships it, with the manifest of its files."""
    from ..version import __version__

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
        status, error, summary = outcome(train, Heartbeat(sessions, job_id, settings.heartbeat_seconds))
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
    register_all()
    configure_logging("%(asctime)s worker %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.parent_pipe:
        watch_parent(sys.stdin.fileno())
    lock = claim_lock(Path(args.data_dir))  # one worker a data dir: the lock is held while this one works
    try:
        serve(args)
    finally:
        os.close(lock)  # released only when the worker stops (the process's exit would release it too)


def serve(args) -> None:
    """Work the queue with the settings of ``args`` (the worker lock is held), at a lower priority."""
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


if __name__ == "__main__":
    main()
