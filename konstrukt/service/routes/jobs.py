"""Training jobs: start, follow (Server-Sent Events), cancel; results, Try it and download.
Compare jobs: train several pipelines on the same folds; their leaderboard."""
from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from typing import Annotated, Callable, Optional

from fastapi import APIRouter, Depends, Header, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ...data import discover
from ...config import TrainConfig, check_train_items
from ...errors import ConfigError, KonstruktError
from ...experiment import resolve_config
from ..db import MAX_ID, Job, JobEvent, Project, User
from ..deps import (JSON, MULTIPART, JobId, authorized_job, current_user, current_user_or_none, get_db,
                    owned_job, owned_project)
from ..openapi import config_problems
from .. import blobs, quotas
from ..exports import download_name, export_jobs_of, export_path, is_fresh, request_export
from ..jobs import COMPARE, EXPORT, TERMINAL, delete_job_files, request_cancel
from ..health import run_health
from ..schemas import (CompareRequest, ExportFormat, ExportOut, ExportRequest, HealthOut, JobOut, Prediction,
                       TrainRequest)
from ..settings import Settings, get_settings
from ..storage import TooLarge, display_name, hide_paths, job_dir, remove_tree, rewritten, staged_upload

router = APIRouter(prefix="/api", tags=["training"])
# Project kind → how a training request of that kind of project is queued (classification: below).
TRAINERS: dict[str, Callable[..., Job]] = {}
# Report kind → the report as the results page gets it (classification: trust notes and baseline, below).
REPORTS: dict[str, Callable[[dict, Session, Project], dict]] = {}
# Project kind → how a compare request of that kind of project is queued (classification: below).
COMPARERS: dict[str, Callable[..., Job]] = {}
# Project kind → (run name → report.json) → (the recommended name or None, the reason in words).
RECOMMENDERS: dict[str, Callable[[dict[str, dict]], tuple[Optional[str], str]]] = {}
# Project kind → a check of an export format for that kind's runs (raises when it is refused).
EXPORT_CHECKS: dict[str, Callable[[str], None]] = {}
RUN_FILES = {"report.json", "config.json", "summary.md", "curves.png", "confusion_matrix.png",
             "leaderboard.json", "leaderboard.md", "leaderboard.png"}


def run_dir(settings: Settings, job: Job) -> Path:
    """The job's run folder here (fetched from the store into a cache when the store is remote)."""
    return blobs.run_folder(settings, job.project_id, job.id)


def finished_run(settings: Settings, job: Job) -> Path:
    if job.pipeline == EXPORT:
        raise HTTPException(404, f"job {job.id} exports a run; download its bundle from "
                                 f"/api/jobs/{job.config.get('run_job')}/export")
    if job.status != "succeeded":
        raise HTTPException(409, f"job {job.id} is {job.status}; results exist once it has succeeded")
    return run_dir(settings, job)


@router.post("/projects/{project_id}/jobs", response_model=JobOut, status_code=201, dependencies=[JSON])
def start_training(body: TrainRequest, project: Project = Depends(owned_project),
                   db: Session = Depends(get_db), settings: Settings = Depends(get_settings)):
    """Queue a training job on the project's current samples (checked now, trained by the worker)."""
    if trainer := TRAINERS.get(project.kind):  # a sequence project: a sequence run
        return trainer(body, project, db, settings)
    if problems := config_problems(body.config):
        raise ConfigError("this training config cannot be used here", problems)
    cfg, _ = resolve_config(project.task, body.pipeline, body.config)  # every config problem → 422 now
    return queue_job(db, settings, Job(project_id=project.id, pipeline=body.pipeline, config=body.config,
                                       status="queued"), project, cfg)


@router.post("/projects/{project_id}/compare", response_model=JobOut, status_code=201, dependencies=[JSON])
def start_compare(body: CompareRequest, project: Project = Depends(owned_project),
                  db: Session = Depends(get_db), settings: Settings = Depends(get_settings)):
    """Queue a compare job: every pipeline on the same split and CV folds, a leaderboard and a
    recommendation (``GET /api/jobs/{id}/leaderboard``); each finished pipeline becomes a run."""
    from ...comparison.entries import resolve_entries

    if comparer := COMPARERS.get(project.kind):  # a sequence project: its model ladder
        return comparer(body, project, db, settings)
    if problems := config_problems(body.config):
        raise ConfigError("this compare config cannot be used here", problems)
    _, _, entries, configs, _ = resolve_entries(project.task, body.pipelines, body.config, None)  # → 4xx now
    config = {"pipelines": [e.name for e in entries], "config": body.config}
    return queue_job(db, settings, Job(project_id=project.id, pipeline=COMPARE, config=config,
                                       status="queued"), project, *(cfg for cfg, _ in configs.values()))


def queue_job(db: Session, settings: Settings, job: Job, project: Project, *configs: TrainConfig,
              check: Callable[[Path], object] | None = None) -> Job:
    """Snapshot the project's samples for ``job`` (checked as the core will read them — by ``check``
    on the labels file when given — and against the per-job item limit of each of its ``configs``)
    and queue it. At most
    ``max_active_jobs_per_user`` of a user's jobs are queued or running (429 past that)."""
    quotas.claim_job(db, settings, project.user_id, kinds_excluded=(EXPORT,))  # checked, inserted: one transaction
    db.add(job)
    db.flush()
    checked = None
    try:
        checked = blobs.snapshot_job(settings, project, job)
        if check is not None:
            check(checked)
        else:
            dataset = discover(checked, project.task)
            for cfg in configs:
                check_train_items(cfg, len(dataset.samples), len(dataset.classes))
    except KonstruktError as exc:
        db.rollback()
        _forget_quietly(settings, job)
        raise rewritten(exc, hide_paths) from None
    except Exception:
        db.rollback()
        _forget_quietly(settings, job)
        raise
    finally:
        if checked is not None and not blobs.is_local(settings):
            remove_tree(checked.parent)  # a scratch copy: the worker fetches the job's files by its manifest
    db.commit()
    return job


def _forget_quietly(settings: Settings, job: Job) -> None:
    try:
        delete_job_files(settings, job)
    except KonstruktError:  # the store is down: the error being raised already says so
        pass


@router.get("/projects/{project_id}/jobs", response_model=list[JobOut])
def list_jobs(project: Project = Depends(owned_project), db: Session = Depends(get_db)):
    """The project's training and compare jobs, newest first (export jobs are listed by their run)."""
    return db.scalars(select(Job).where(Job.project_id == project.id, Job.pipeline != EXPORT)
                      .order_by(Job.id.desc())).all()


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job: Job = Depends(owned_job)):
    return job


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job: Job = Depends(owned_job), db: Session = Depends(get_db)):
    request_cancel(db, job)
    return job


@router.delete("/jobs/{job_id}", status_code=204)
def delete_job(request: Request, job: Job = Depends(owned_job), db: Session = Depends(get_db),
               settings: Settings = Depends(get_settings)):
    if job.status not in TERMINAL:
        raise HTTPException(409, f"job {job.id} is {job.status}; cancel it first")
    exports = export_jobs_of(db, job)
    if busy := [e.id for e in exports if e.status not in TERMINAL]:
        raise HTTPException(409, f"export job {busy[0]} of job {job.id} is still running; cancel it first")
    request.app.state.runs.forget(job.run_key)
    request.app.state.access_cache.clear()
    for row in (*exports, job):  # its exports go with it (their bundles live in its folder)
        db.delete(row)
    db.commit()
    delete_job_files(settings, job)


def _events_after(sessions, job_id: int, last: int) -> tuple[list[JobEvent], str | None]:
    """New events of a job and its status, in a session that lives only for this poll."""
    with sessions() as db:
        rows = db.scalars(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > last)
                          .order_by(JobEvent.id).limit(200)).all()
        job = db.get(Job, job_id)
        return rows, job.status if job else None


def _stream_owner(request: Request, job_id: int) -> int:
    """The id of the user who may follow ``job_id`` (404 otherwise), in a short-lived session."""
    with request.app.state.sessions() as db:
        job = owned_job(job_id, current_user(current_user_or_none(request, db)), db)
        return db.get(Project, job.project_id).user_id


LastEventId = Annotated[Optional[int], Header(ge=0, le=MAX_ID, description=(
    "Resume after this event id (browsers send it when they reconnect)"))]


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse,
            responses={200: {"content": {"text/event-stream": {}}}, 429: {"description": "too many streams"}})
async def job_events(request: Request, job_id: JobId, last_event_id: LastEventId = None):
    """Live progress as Server-Sent Events: ``progress`` events (stage, fold, epoch, losses,
    message) and a final ``status`` event; reconnecting with Last-Event-ID resumes.

    A stream holds no database connection while it waits: each poll opens a session and closes it,
    and polls slow down while nothing happens. Each user may keep a few streams open at once."""
    settings: Settings = request.app.state.settings
    user_id = await run_in_threadpool(_stream_owner, request, job_id)
    slots = request.app.state.streams
    slots.acquire(user_id)
    sessions, last = request.app.state.sessions, last_event_id or 0

    async def stream():
        nonlocal last
        wait = settings.stream_poll_seconds
        try:
            while not await request.is_disconnected():
                rows, status = await run_in_threadpool(_events_after, sessions, job_id, last)
                for row in rows:
                    last = row.id
                    yield {"event": "progress", "id": str(row.id), "data": json.dumps(row.data)}
                if status is None or (status in TERMINAL and not rows):
                    yield {"event": "status", "data": json.dumps({"status": status or "deleted"})}
                    return
                # Quick while events flow, slower while a job waits in the queue (idle streams are cheap).
                wait = settings.stream_poll_seconds if rows else min(wait * 1.5, settings.stream_idle_seconds)
                await asyncio.sleep(wait)
        finally:
            slots.release(user_id)

    return EventSourceResponse(stream(), ping=15)


@router.get("/jobs/{job_id}/leaderboard")
def job_leaderboard(job: Job = Depends(owned_job), settings: Settings = Depends(get_settings)):
    """A compare job's leaderboard: rows (CV, test, time, memory, size, latency; skipped and failed
    with the reason), the reference row, the recommendation and the job id of each pipeline's run."""
    if job.pipeline != COMPARE:
        raise HTTPException(404, f"job {job.id} is a training job; leaderboards belong to compare jobs")
    # Reasons of skipped/failed rows quote exceptions, which may name server folders (weights cache).
    text = (finished_run(settings, job) / "leaderboard.json").read_text(encoding="utf-8")
    data = job_dir(settings.data_dir, job.project_id, job.id) / "data"  # where the worker trained
    board = json.loads(hide_paths(text, {data: "your data"}))
    runs = (job.summary or {}).get("jobs", {})
    for row in board["rows"]:
        row["job_id"] = runs.get(row["name"])
        row.pop("run", None)  # the run folders moved to their jobs
        if "service_reason" in row:  # a skipped or failed row: the web user's words, no CLI flags
            row["reason"] = row.pop("service_reason")
    if board.get("recommendation"):
        board["recommendation"]["job_id"] = runs.get(board["recommendation"]["name"])
        board["recommendation"].pop("run", None)
    return board


@router.get("/projects/{project_id}/recommendation")
def runs_recommendation(jobs: str, project: Project = Depends(owned_project), db: Session = Depends(get_db),
                        settings: Settings = Depends(get_settings)):
    """Of the project's finished runs ``jobs`` (ids, comma-separated), the one the core recommends
    — cross-validation only, the rule ``compare`` uses — with the reason in words."""
    from ...pipelines import recommend_runs

    try:
        ids = list(dict.fromkeys(int(x) for x in jobs.split(",") if x.strip()))[:50]
    except ValueError:
        raise HTTPException(422, "jobs: job ids separated by commas, e.g. 3,5,8") from None
    if any(not 0 < i <= MAX_ID for i in ids):
        raise HTTPException(422, "jobs: job ids separated by commas, e.g. 3,5,8")
    found = [db.get(Job, i) for i in ids]
    runs = {f"run #{j.id}": j for j in found
            if j is not None and j.project_id == project.id and j.status == "succeeded"
            and j.pipeline not in (COMPARE, EXPORT)}
    reports = {name: json.loads((finished_run(settings, j) / "report.json").read_text(encoding="utf-8"))
               for name, j in runs.items()}
    name, reason = RECOMMENDERS.get(project.kind, recommend_runs)(reports)  # sequence runs: by CER
    return {"job_id": runs[name].id if name else None, "reason": reason}


@router.get("/jobs/{job_id}/report")
def job_report(job: Job = Depends(owned_job), settings: Settings = Depends(get_settings),
               db: Session = Depends(get_db)):
    """The run's full ``report.json`` (metrics, per-class table, confusion matrix, CV, history), with
    the core's report text for the page to show as it is: ``notes`` (how far to trust the figures,
    ``[{kind, text}]``, :func:`konstrukt.trust.trust_notes`) and ``baseline`` as a record
    (``{verdict: better | about the same | worse | null, text, …}``)."""
    from ...trust import trust_notes
    from ...verdict import verdict_record

    report = json.loads((finished_run(settings, job) / "report.json").read_text(encoding="utf-8"))
    if shown := REPORTS.get(report.get("kind")):  # a sequence run: CER, its worst examples
        return shown(report, db, db.get(Project, job.project_id))
    return {**report, "notes": trust_notes(report), "baseline": verdict_record(report.get("baseline"))}


@router.get("/jobs/{job_id}/health", response_model=HealthOut)
def job_health(job: Job = Depends(owned_job), db: Session = Depends(get_db),
               settings: Settings = Depends(get_settings)):
    """The run's data health (before and after training: leakage left out of the scores, likely
    mislabelled examples, what to add next), each file matched to the project's sample if it still exists."""
    report = json.loads((finished_run(settings, job) / "report.json").read_text(encoding="utf-8"))
    return run_health(db, db.get(Project, job.project_id), report)


@router.get("/jobs/{job_id}/files/{name}", response_class=FileResponse)
def job_file(name: str, job: Job = Depends(owned_job), settings: Settings = Depends(get_settings)):
    """One artifact of the run: report.json, config.json, summary.md, curves.png, confusion_matrix.png."""
    if name not in RUN_FILES:
        raise HTTPException(404, f"no run file {name!r}; available: {', '.join(sorted(RUN_FILES))}")
    path = finished_run(settings, job) / name
    if not path.is_file():
        raise HTTPException(404, f"this run has no {name}")
    return FileResponse(path)


@router.get("/jobs/{job_id}/download")
def download(job: Job = Depends(owned_job), settings: Settings = Depends(get_settings)):
    """The run as a zip: weights (safetensors), config, report, summary and pictures."""
    folder = finished_run(settings, job)
    zip_path = folder.parent / "download.zip"
    if not zip_path.exists() or zip_path.stat().st_mtime < (folder / "report.json").stat().st_mtime:
        tmp = zip_path.with_suffix(".tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                zf.write(path, f"konstrukt-run-{job.id}/{path.relative_to(folder)}")
        tmp.replace(zip_path)
    return FileResponse(zip_path, media_type="application/zip",
                        filename=f"konstrukt-run-{job.id}.zip")


@router.post("/jobs/{job_id}/exports", response_model=ExportOut, status_code=202, dependencies=[JSON],
             responses={409: {"description": "the job has not succeeded, or is not a trained run"}})
def start_export(body: ExportRequest, job: Job = Depends(owned_job), user: User = Depends(current_user),
                 db: Session = Depends(get_db), settings: Settings = Depends(get_settings)):
    """Build the model as a stand-alone bundle (.zip) in the background: ``bundle`` (PyTorch),
    ``onnx``, ``onnx-int8``, ``all`` or ``web`` (also an offline web page); each with config.json, a generated predict.py,
    requirements.txt and a model card, parity-checked against PyTorch. Answers at once with the
    export job (follow it like a training job); the same request again returns the job building or
    having built that bundle, which is kept until the run is deleted."""
    if job.pipeline in (COMPARE, EXPORT):
        raise HTTPException(409, f"job {job.id} is a {job.pipeline} job, not a trained model; export one "
                                 "of its runs")
    if check := EXPORT_CHECKS.get(db.get(Project, job.project_id).kind):  # a sequence run: no web page
        check(body.format)
    finished_run(settings, job)
    return export_out(request_export(db, settings, job, user.id, body.format))


def export_out(export_job: Job) -> ExportOut:
    run_job, fmt = export_job.config["run_job"], export_job.config["format"]
    url = f"/api/jobs/{run_job}/export?format={fmt}" if export_job.status == "succeeded" else None
    return ExportOut(job=JobOut.model_validate(export_job), run_job=run_job, format=fmt, download_url=url)


@router.get("/jobs/{job_id}/export", response_class=FileResponse,
            responses={409: {"description": "not built yet: start it with POST /api/jobs/{job_id}/exports"}})
def export_bundle(format: ExportFormat = "bundle", job: Job = Depends(owned_job),
                  settings: Settings = Depends(get_settings)):
    """Download a bundle built by an export job (``POST /api/jobs/{job_id}/exports``)."""
    folder = finished_run(settings, job)
    if not is_fresh(folder, format):
        raise HTTPException(409, f"the {format} export of job {job.id} is not built yet; start it with "
                                 f"POST /api/jobs/{job.id}/exports and download it once that job has succeeded")
    return FileResponse(export_path(folder, format), media_type="application/zip",
                        filename=f"{download_name(job.id, format)}.zip")


@router.post("/jobs/{job_id}/predict", response_model=Prediction, dependencies=[MULTIPART])
async def predict(job_id: JobId, file: UploadFile, request: Request):
    """Class probabilities for one file, from the run's model held warm in memory."""
    # Async with a single thread hop for auth + lookup: this is the path under load (bench/serve_load.py).
    settings: Settings = request.app.state.settings
    job = await run_in_threadpool(authorized_job, request, job_id)
    runs = request.app.state.runs
    # A warm model needs no folder; a cold one may come from a remote store: off the event loop.
    folder = Path() if job.run_key in runs and job.status == "succeeded" else \
        await run_in_threadpool(finished_run, settings, job)
    name = display_name(file.filename)
    try:
        with staged_upload(file.file, file.filename or "", settings.data_dir, settings.max_file_bytes) as path:
            try:
                result = await request.app.state.runs.apredict(job.run_key, folder, path)
            except KonstruktError as exc:  # the message names the staged copy (or its file name): the user's
                raise rewritten(exc, lambda t: hide_paths(t, {path: name, Path(path.name): name})) from None
            except Exception as exc:  # a decoder crashing on a hostile file is that file's problem
                raise HTTPException(422, f"{name}: cannot be read ({type(exc).__name__})") from None
    except TooLarge as exc:
        raise HTTPException(413, f"{name}: file is {exc}") from None
    # a class with probabilities (classification) or a decoded text with its confidence (sequence)
    return Prediction(**{k: result[k] for k in Prediction.model_fields if k in result})
