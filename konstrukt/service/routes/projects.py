"""Projects, their classes and their samples (uploads are checked by the core's validators)."""
from __future__ import annotations

import mimetypes
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...auto import auto_plan, pipeline_available
from ...models.weights import offline
from ...pipelines import PIPELINES
from ...tasks import TASKS, task_modality
from ..db import Job, Label, Project, Sample, User
from ..deps import JSON, MULTIPART, current_user, get_db, owned_class, owned_project, owned_sample
from ..health import project_health
from ..jobs import EXPORT
from ..schemas import (ClassName, ClassOut, HealthOut, ProjectCreate, ProjectOut, ProjectRename, SampleMove,
                       SampleOut, TaskOut, UploadResult)
from ..sequence_uploads import SEQUENCE, add_bucket
from ..settings import Settings, get_settings
from ...errors import StorageError, StorageUnavailable
from .. import blobs, quotas
from ..storage import Checked, check_upload, display_name, file_digest, tmp_dir

router = APIRouter(prefix="/api", tags=["projects"])


def _pipeline_out(name: str, spec, plan) -> dict:
    available, why = pipeline_available(spec)
    return {"name": name, "description": spec.description, "recommended": name == plan.start,
            "offline": spec.pretrained == "none", "available": available,
            "reason": None if available else why + ("; downloads are off on this server" if offline() else
                                                    "; they are downloaded on first use, if this server can")}


def task_list() -> list[TaskOut]:
    """Every registered task with its modality's UI capabilities and its pipelines; each pipeline
    says whether it can train here (weights on this server), and "recommended" marks what `auto`
    starts from on this server (always one that can train)."""
    out = []
    for name, spec in TASKS.items():
        plan = auto_plan(name)
        pipes = [_pipeline_out(p, s, plan) for p, s in PIPELINES.items() if name in s.tasks]
        ui = task_modality(name).ui
        out.append(TaskOut(name=name, description=spec.description, modality=spec.modality,
                           extensions=sorted(spec.extensions), accept=",".join(ui.accept),
                           capture=ui.capture, preview=ui.preview, capture_seconds=ui.capture_seconds,
                           pipelines=pipes, auto=plan.words(),
                           sequence=task_modality(name).sequence is not None))
    return out


def project_out(db: Session, project: Project, with_samples: bool = False) -> ProjectOut:
    classes = [ClassOut(id=c.id, name=c.name, sample_count=len(c.samples),
                        samples=[SampleOut.model_validate(s) for s in c.samples] if with_samples else [])
               for c in project.classes]
    jobs = db.scalar(select(func.count(Job.id)).where(Job.project_id == project.id, Job.pipeline != EXPORT))
    return ProjectOut(id=project.id, name=project.name, task=project.task, kind=project.kind,
                      created_at=project.created_at,
                      classes=classes, sample_count=sum(c.sample_count for c in classes), job_count=jobs)


@router.get("/tasks", response_model=list[TaskOut])
def tasks():
    """Tasks (modalities) and the pipelines each can train."""
    return task_list()


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(user: User = Depends(current_user), db: Session = Depends(get_db)):
    rows = db.scalars(select(Project).where(Project.user_id == user.id).order_by(Project.id.desc()))
    return [project_out(db, p) for p in rows]


@router.post("/projects", response_model=ProjectOut, status_code=201, dependencies=[JSON])
def create_project(body: ProjectCreate, user: User = Depends(current_user), db: Session = Depends(get_db),
                   settings: Settings = Depends(get_settings)):
    """Create a project (each account may have ``max_projects_per_user``; 409 past that)."""
    TASKS.get(body.task)  # unknown task → ConfigError listing the known ones → 422
    quotas.claim_project(db, settings, user.id)  # checked and inserted in one transaction
    project = Project(user_id=user.id, name=body.name, task=body.task, kind=body.kind)
    if body.kind == SEQUENCE:
        add_bucket(project)
    db.add(project)
    db.commit()
    return project_out(db, project)


@router.get("/projects/{project_id}", response_model=ProjectOut)
def get_project(project: Project = Depends(owned_project), db: Session = Depends(get_db)):
    return project_out(db, project, with_samples=True)


@router.patch("/projects/{project_id}", response_model=ProjectOut, dependencies=[JSON])
def rename_project(body: ProjectRename, project: Project = Depends(owned_project),
                   db: Session = Depends(get_db)):
    project.name = body.name
    db.commit()
    return project_out(db, project)


@router.delete("/projects/{project_id}", status_code=204)
def delete_project(request: Request, project: Project = Depends(owned_project),
                   db: Session = Depends(get_db), settings: Settings = Depends(get_settings)):
    for job in db.scalars(select(Job).where(Job.project_id == project.id, Job.status.in_(["queued", "running"]))):
        raise HTTPException(409, f"job {job.id} is still {job.status}; cancel it first")
    pid = project.id
    run_keys = db.scalars(select(Job.run_key).where(Job.project_id == pid)).all()
    db.delete(project)
    db.commit()
    request.app.state.runs.forget(*run_keys)  # its models leave memory with it
    request.app.state.access_cache.clear()
    blobs.forget_project(settings, pid)


@router.post("/projects/{project_id}/classes", response_model=ClassOut, status_code=201, dependencies=[JSON])
def create_class(body: ClassName, project: Project = Depends(owned_project), db: Session = Depends(get_db),
                 settings: Settings = Depends(get_settings)):
    _has_classes(project)
    quotas.claim_class(db, settings, project)  # checked and inserted in one transaction: no race past it
    label = Label(project_id=project.id, name=body.name)
    db.add(label)
    _commit_unique(db, body.name)
    return ClassOut(id=label.id, name=label.name, sample_count=0)


@router.patch("/projects/{project_id}/classes/{class_id}", response_model=ClassOut, dependencies=[JSON])
def rename_class(body: ClassName, label: Label = Depends(owned_class), db: Session = Depends(get_db)):
    _has_classes(label.project)
    label.name = body.name
    _commit_unique(db, body.name)
    return ClassOut(id=label.id, name=label.name, sample_count=len(label.samples))


def _has_classes(project: Project) -> None:
    """409 for a sequence project: its one implicit class holds recordings with their text."""
    if project.kind == SEQUENCE:
        raise HTTPException(409, f"project {project.id} is a sequence project: it has no classes; send "
                                 f"recordings with their text to /api/projects/{project.id}/recordings")


def _commit_unique(db: Session, name: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise HTTPException(409, f"this project already has a class named {name!r}") from None


@router.delete("/projects/{project_id}/classes/{class_id}", status_code=204)
def delete_class(label: Label = Depends(owned_class), db: Session = Depends(get_db),
                 settings: Settings = Depends(get_settings)):
    _has_classes(label.project)
    prefix = blobs.class_prefix(label.project_id, label.id)
    db.delete(label)
    db.commit()
    blobs.delete_prefix(settings, prefix)


@router.post("/projects/{project_id}/classes/{class_id}/samples", response_model=UploadResult,
             dependencies=[MULTIPART])
async def upload_samples(files: list[UploadFile], label: Label = Depends(owned_class),
                         project: Project = Depends(owned_project), db: Session = Depends(get_db),
                         settings: Settings = Depends(get_settings)):
    """Add files (or zips of files) to a class. Each file is checked; bad ones are listed with the
    reason while the good ones are kept."""
    _has_classes(project)
    return await run_in_threadpool(_store_uploads, files, label, project.task, db, settings)


def _store_uploads(files: list[UploadFile], label: Label, task: str, db: Session,
                   settings: Settings) -> UploadResult:
    work = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir)))
    try:
        checked = Checked()
        for upload in files:
            check_upload(task, display_name(upload.filename), upload.file, work,
                         max_file_bytes=settings.max_file_bytes, max_zip_bytes=settings.max_zip_bytes,
                         max_unzip_bytes=settings.max_unzip_bytes,
                         min_free_bytes=settings.min_free_disk_bytes, out=checked)
        added = _keep(checked, label, db, settings)
        return UploadResult(added=added, rejected=checked.rejected)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _keep(checked: Checked, label: Label, db: Session, settings: Settings,
          texts: dict[str, str] | None = None) -> list[SampleOut]:
    """Move the accepted files next to the class's samples, one row each (with its text from
    ``texts``, by display name, in a sequence project). A file whose content is
    already in the class is reported, not stored twice: a client that retries an upload whose
    answer it lost gets no duplicates."""
    class_id, project_id = label.id, label.project_id  # plain values: a rollback expires ``label``
    user_id = label.project.user_id
    known = dict(db.execute(select(Sample.digest, Sample.filename).where(Sample.class_id == class_id)).all())
    added = []
    for name, path in checked.accepted:
        digest = file_digest(path)
        if digest in known:
            checked.reject(name, f"already in this class (same content as {known[digest]!r}); not added again")
            continue
        size = path.stat().st_size
        # Limits and quotas checked under the owner's lock, and the row inserted in that transaction.
        if why_not := quotas.claim_sample(db, settings, user_id, project_id, size):
            db.rollback()
            checked.reject(name, why_not)
            continue
        sample = Sample(class_id=class_id, filename=name, stored_name="", size=size, digest=digest,
                        text=(texts or {}).get(name))
        db.add(sample)
        try:
            db.flush()
        except IntegrityError:  # the class was deleted while this upload was being checked
            db.rollback()
            blobs.delete_prefix(settings, blobs.class_prefix(project_id, class_id))
            raise HTTPException(409, f"class {class_id} was deleted while the upload ran; nothing "
                                     "was added") from None
        sample.stored_name = f"{sample.id}{path.suffix}"
        try:  # the row is committed only once the file is stored: no sample without its file
            blobs.keep_sample(settings, blobs.sample_key(project_id, class_id, sample.stored_name), path, digest)
        except BaseException:
            db.rollback()
            raise
        db.commit()
        known[digest] = name
        added.append(SampleOut.model_validate(sample))
    return added


@router.get("/samples/{sample_id}/file", response_class=FileResponse)
def sample_file(sample: Sample = Depends(owned_sample), settings: Settings = Depends(get_settings)):
    """The stored file, to show or play it."""
    path = blobs.sample_path(settings, blobs.sample_key(sample.label.project_id, sample.class_id,
                                                        sample.stored_name), sample.digest)
    if path is None:
        raise HTTPException(404, f"file of sample {sample.id} is missing")
    media = mimetypes.guess_type(sample.stored_name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=media, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/projects/{project_id}/health", response_model=HealthOut)
def project_data_health(project: Project = Depends(owned_project), db: Session = Depends(get_db),
                        settings: Settings = Depends(get_settings)):
    """Data health of the project's examples now: duplicates, examples in two classes, imbalance,
    too few examples, unusual, blank, silent or unreadable files — each with the samples it names."""
    return project_health(db, project, settings)


@router.patch("/samples/{sample_id}", response_model=SampleOut, dependencies=[JSON])
def move_sample(body: SampleMove, sample: Sample = Depends(owned_sample), db: Session = Depends(get_db),
                settings: Settings = Depends(get_settings)):
    """Move an example to another class of the same project (e.g. one a health check says is mislabelled)."""
    target = db.get(Label, body.class_id)
    project_id = sample.label.project_id
    if target is None or target.project_id != project_id:
        raise HTTPException(404, f"class {body.class_id} not found in this project")
    if target.id == sample.class_id:
        return sample
    src = blobs.sample_key(project_id, sample.class_id, sample.stored_name)
    dest = blobs.sample_key(project_id, target.id, sample.stored_name)
    try:
        blobs.move_sample(settings, src, dest)
    except StorageError as exc:
        if isinstance(exc, StorageUnavailable):
            raise
        raise HTTPException(404, f"file of sample {sample.id} is missing") from None
    sample.class_id = target.id
    try:
        db.commit()
    except Exception:
        blobs.move_sample(settings, dest, src)  # the database said no: the file goes back where it was
        raise
    db.refresh(sample)
    return sample


@router.delete("/samples/{sample_id}", status_code=204)
def delete_sample(sample: Sample = Depends(owned_sample), db: Session = Depends(get_db),
                  settings: Settings = Depends(get_settings)):
    key = blobs.sample_key(sample.label.project_id, sample.class_id, sample.stored_name)
    db.delete(sample)
    db.commit()
    blobs.delete_sample(settings, key)
