"""A whole project as one file: download it, import one as a new project (all or nothing)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..db import Project, User
from ..deps import MULTIPART, current_user, get_db, owned_project
from ..project_io import export_project, import_project, project_settings, training_request
from ..schemas import ProjectOut
from ..settings import Settings, get_settings
from ..storage import remove_tree
from .projects import project_out

router = APIRouter(prefix="/api", tags=["projects"])


class ImportOut(BaseModel):
    project: ProjectOut
    settings: dict[str, Any] = Field(description="The file's settings as a training request "
                                                 "(`pipeline`, `config`): POST it to /api/projects/{id}/jobs")
    notes: list[str] = []


@router.get("/projects/{project_id}/file", response_class=FileResponse)
def download_project(project: Project = Depends(owned_project), db: Session = Depends(get_db),
                     settings: Settings = Depends(get_settings)):
    """The project as one file: samples in class folders and a manifest (task, kind, classes, sample
    sha256s — a sequence project's: each recording's text —, the latest training settings). Import it elsewhere with POST /api/projects/import."""
    path = export_project(db, settings, project)
    return FileResponse(path, media_type="application/zip", filename=path.name,
                        background=BackgroundTask(remove_tree, path.parent))


class SettingsOut(BaseModel):
    pipeline: str = "auto"
    config: dict[str, Any] = {}
    notes: list[str] = []


@router.get("/projects/{project_id}/settings", response_model=SettingsOut)
def carried_settings(project: Project = Depends(owned_project), db: Session = Depends(get_db),
                     settings: Settings = Depends(get_settings)):
    """The settings a Download project file carries (the latest training job's, else those the
    project was imported with), as a training request: POST it to /api/projects/{id}/jobs."""
    request, notes = training_request(project_settings(db, settings, project))
    return SettingsOut(**request, notes=notes)


@router.post("/projects/import", response_model=ImportOut, status_code=201, dependencies=[MULTIPART])
async def import_project_file(file: UploadFile, user: User = Depends(current_user), db: Session = Depends(get_db),
                              settings: Settings = Depends(get_settings)):
    """Import a project file (from Download project or `konstrukt project export`) as a new project
    of yours. Checked as any upload (paths, links, sizes while extracting, digests, decoding, quotas);
    a refused import stores nothing."""
    project, request, notes = await run_in_threadpool(import_project, db, settings, user.id, file.filename, file.file)
    return ImportOut(project=project_out(db, project, with_samples=True), settings=request, notes=notes)
