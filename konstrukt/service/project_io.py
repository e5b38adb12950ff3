"""A project as one file on the server: build it for download, import it as a new project.

The format and every check of it live in the core (:mod:`konstrukt.data.project_file`); here are
the server's limits and quotas, the blob store, and all-or-nothing: an import that is refused at
any step leaves no project row, no class or sample row and no stored file.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import HTTPException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..data.project_file import Limits, ProjectContents, ProjectSample, read_project_file, write_project_file
from ..errors import DataError, KonstruktError, StorageError
from . import blobs, quotas
from .db import Job, Label, Project, Sample
from .jobs import COMPARE, EXPORT
from .openapi import SERVER_ONLY, pretrained_names
from .settings import Settings
from .storage import (TooLarge, copy_limited, display_name, hide_paths, modality_rule, remove_tree, rewritten,
                      tmp_dir, unzip_budget)

_NAME_BAD = set('/\\:*?"<>|')  # as the service's class names (schemas.ClassName)


def settings_key(project_id: int) -> str:
    """Where an imported project keeps the settings its file carried (exported again with it)."""
    return f"{blobs.project_prefix(project_id)}/settings.json"


def project_settings(db: Session, settings: Settings, project: Project) -> dict[str, Any]:
    """The settings a project file carries: those of the project's latest training job
    (``pipeline`` plus its config), else those it was imported with, else none."""
    job = db.scalars(select(Job).where(Job.project_id == project.id, Job.pipeline.not_in((EXPORT, COMPARE)))
                     .order_by(Job.id.desc()).limit(1)).first()
    if job is not None:
        return {"pipeline": job.pipeline, **(job.config or {})}
    store = blobs.store_of(settings)
    if store.exists(settings_key(project.id)):
        return json.loads(store.get_bytes(settings_key(project.id)))
    return {}


def file_name(project: Project) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", project.name).strip("-.")[:60] or "project"
    return f"{slug}.konstrukt-project.zip"


def export_project(db: Session, settings: Settings, project: Project) -> Path:
    """Write the project's file in a new folder under the data directory's tmp; return the zip
    (the caller removes its folder once sent)."""
    samples = []
    for label in project.classes:
        for s in label.samples:
            path = blobs.sample_path(settings, blobs.sample_key(project.id, label.id, s.stored_name), s.digest)
            if path is None:
                raise StorageError(f"{label.name}/{s.filename} is missing from the store",
                                   ["Fix: delete this example and upload it again, then download again."])
            samples.append(ProjectSample(label.name, path, s.filename, s.text if project.kind == "sequence" else None))
    work = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir), prefix="project-"))
    try:
        out = work / file_name(project)
        write_project_file(out, task=project.task, classes=[c.name for c in project.classes], samples=samples,
                           settings=project_settings(db, settings, project), name=project.name, kind=project.kind)
    except BaseException:
        remove_tree(work)
        raise
    return out


def import_project(db: Session, settings: Settings, user_id: int, filename: str | None,
                   stream: BinaryIO) -> tuple[Project, dict[str, Any], list[str]]:
    """Check an uploaded project file and store it as a new project of ``user_id``; return the
    project, its settings as a training request (``pipeline`` + ``config``) and notes. Refused
    (4xx) with nothing stored when any check fails."""
    name = display_name(filename)
    work = Path(tempfile.mkdtemp(dir=tmp_dir(settings.data_dir), prefix="import-"))
    try:
        staged = work / "upload.zip"
        try:
            copy_limited(stream, staged, settings.max_zip_bytes)
        except TooLarge as exc:
            raise HTTPException(413, f"{name}: file is {exc}") from None
        limits = Limits(max_total_bytes=unzip_budget(work, settings.max_unzip_bytes, settings.min_free_disk_bytes),
                        max_member_bytes=settings.max_file_bytes, max_files=settings.max_samples_per_project,
                        max_classes=settings.max_classes_per_project)
        try:
            contents = read_project_file(staged, work / "files", limits=limits, name=name)
            staged.unlink()
            _server_rules(contents, name)
        except KonstruktError as exc:
            raise rewritten(exc, hide_paths) from None
        request, notes = training_request(contents.manifest.settings)
        return _store(db, settings, user_id, contents, request), request, notes
    finally:
        remove_tree(work)


def _server_rules(contents: ProjectContents, name: str) -> None:
    """The checks an upload gets here beyond the core's: class names that are safe folder names
    and the modality's own upload rule (e.g. audio: not too short)."""
    problems = [f"class {c[:40]!r}: a class name here cannot start with '.' or contain / \\ : * ? \" < > |"
                for c in contents.manifest.classes if c.startswith(".") or any(ch in _NAME_BAD for ch in c)]
    for entry, path in contents.files:
        try:
            modality_rule(contents.manifest.task, path)
        except KonstruktError as exc:
            problems.append(f"member {entry.path!r} ({entry.name}): {exc.message.replace(str(path), entry.path)}")
    if problems:
        raise DataError(f"{name}: this project file cannot be imported", problems[:50] + [
            "Fix: rename the classes or remove the examples named, export again and import that file."])


def training_request(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The file's settings as a training request here; settings the server decides are left out."""
    config = dict(raw)
    pipeline = str(config.pop("pipeline", "auto"))
    dropped = sorted(k for k in config if k in SERVER_ONLY)
    if config.get("pretrained") not in (None, *pretrained_names()):
        dropped.append("pretrained")  # a weight file path on the machine that exported it
    for key in dropped:
        config.pop(key, None)
    notes = [f"left out of the settings (decided by this server): {', '.join(dropped)}"] if dropped else []
    return {"pipeline": pipeline, "config": config}, notes


def _store(db: Session, settings: Settings, user_id: int, contents: ProjectContents,
           request: dict[str, Any]) -> Project:
    m = contents.manifest
    quotas.claim_project(db, settings, user_id)  # takes the owner's lock until commit or rollback
    _claim_samples(db, settings, user_id, len(m.samples), sum(s.size for s in m.samples))
    project = Project(user_id=user_id, name=_project_name(m.name), task=m.task, kind=m.kind)
    db.add(project)
    db.flush()
    pid = project.id
    try:
        labels = {c: Label(project_id=pid, name=c) for c in m.classes}
        db.add_all(labels.values())
        db.flush()
        for entry, path in contents.files:  # in the file's order: ids keep the training order
            label = labels[entry.label]
            sample = Sample(class_id=label.id, filename=display_name(entry.name), stored_name="",
                            size=entry.size, digest=entry.sha256, text=entry.text)
            db.add(sample)
            db.flush()
            sample.stored_name = f"{sample.id}{path.suffix}"
            blobs.keep_sample(settings, blobs.sample_key(pid, label.id, sample.stored_name), path, entry.sha256)
        blobs.store_of(settings).put_bytes(settings_key(pid), json.dumps(
            {"pipeline": request["pipeline"], **request["config"]}).encode())
        db.commit()
    except BaseException:
        db.rollback()
        blobs.forget_project(settings, pid)  # every file stored so far goes with the rows
        raise
    return project


def _claim_samples(db: Session, settings: Settings, user_id: int, count: int, size: int) -> None:
    """409 when the account cannot store ``count`` more examples of ``size`` bytes in all."""
    have, stored = db.execute(select(func.count(Sample.id), func.coalesce(func.sum(Sample.size), 0))
                              .join(Label).join(Project).where(Project.user_id == user_id)).one()
    if have + count > settings.max_samples_per_user:
        raise HTTPException(409, f"this project holds {count} examples and your projects {have}; one account "
                                 f"may store {settings.max_samples_per_user}. Delete some examples or "
                                 "projects first, then import again")
    if stored + size > settings.max_bytes_per_user:
        raise HTTPException(409, f"this project's examples ({size / 1024**2:.1f} MiB) would take your stored "
                                 f"examples past {settings.max_bytes_per_user / 1024**2:.0f} MiB, the most one "
                                 "account may store. Delete some examples or projects first, then import again")


def _project_name(name: str) -> str:
    clean = "".join(ch for ch in name if ch.isprintable()).strip()[:200]
    return clean or "imported project"
