"""Limits per project and quotas per user, each checked and claimed in one transaction.

A limit checked by counting and then inserting in another step is raced past by parallel requests
(490 classes + 60 parallel creates made 501). So every limited insert first takes the owner's write
lock — an UPDATE of the user's row, which in SQLite takes the database's write lock and in
PostgreSQL the row's lock — then counts, then inserts, and the caller commits: a second request of
the same user waits at the UPDATE until the first one has committed, and then counts its row.
Users do not wait for each other (in PostgreSQL; SQLite has one writer at a time anyway).
"""
from __future__ import annotations

from fastapi import HTTPException
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .db import Job, Label, Project, Sample, User
from .settings import Settings

ACTIVE = ("queued", "running")


def lock_owner(db: Session, user_id: int) -> None:
    """Hold ``user_id``'s write lock until this transaction ends (commit or rollback)."""
    db.execute(update(User).where(User.id == user_id).values(session_version=User.session_version))


def claim_project(db: Session, settings: Settings, user_id: int) -> None:
    """Lock, then 409 when the user already has ``max_projects_per_user`` projects."""
    lock_owner(db, user_id)
    limit = settings.max_projects_per_user
    if db.scalar(select(func.count(Project.id)).where(Project.user_id == user_id)) >= limit:
        raise HTTPException(409, f"you already have {limit} projects, the most one account may have; "
                                 "delete some first")


def claim_class(db: Session, settings: Settings, project: Project) -> None:
    """Lock, then 409 when the project already has ``max_classes_per_project`` classes."""
    lock_owner(db, project.user_id)
    limit = settings.max_classes_per_project
    if db.scalar(select(func.count(Label.id)).where(Label.project_id == project.id)) >= limit:
        raise HTTPException(409, f"a project can have at most {limit} classes; delete some or start "
                                 "another project")


def claim_sample(db: Session, settings: Settings, user_id: int, project_id: int, size: int) -> str | None:
    """Lock, then why one more example of ``size`` bytes may not be stored (None: it may).
    Checked per file, so an upload keeps what fits and names what did not."""
    lock_owner(db, user_id)
    in_project = db.scalar(select(func.count(Sample.id)).join(Label).where(Label.project_id == project_id))
    if in_project >= settings.max_samples_per_project:
        return f"the project already has {settings.max_samples_per_project} examples, the limit; not added"
    count, stored = db.execute(select(func.count(Sample.id), func.coalesce(func.sum(Sample.size), 0))
                               .join(Label).join(Project).where(Project.user_id == user_id)).one()
    if count >= settings.max_samples_per_user:
        return (f"your projects already hold {settings.max_samples_per_user} examples, the most one "
                "account may store; not added")
    if stored + size > settings.max_bytes_per_user:
        return (f"this file would take your stored examples past {_size(settings.max_bytes_per_user)}, "
                "the most one account may store; not added")
    return None


def claim_job(db: Session, settings: Settings, user_id: int, kinds_excluded: tuple[str, ...] = ()) -> None:
    """Lock, then 429 when the user already has ``max_active_jobs_per_user`` jobs queued or running
    (jobs whose pipeline is in ``kinds_excluded`` do not count)."""
    lock_owner(db, user_id)
    limit = settings.max_active_jobs_per_user
    active = db.scalar(select(func.count(Job.id)).join(Project).where(
        Project.user_id == user_id, Job.status.in_(ACTIVE), Job.pipeline.not_in(kinds_excluded)))
    if active >= limit:
        raise HTTPException(429, f"you already have {limit} jobs queued or running, the most one account "
                                 "may have at once; wait for one to finish or cancel one",
                            headers={"Retry-After": "30"})


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"
