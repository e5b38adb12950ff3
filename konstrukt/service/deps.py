"""Request dependencies: database session, the signed-in user, owned objects, content types."""
from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Path, Request
from sqlalchemy.orm import Session

from .db import MAX_ID, Job, Label, Project, Sample, User
from .security import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, csrf_ok, token_hash, user_for_token
from .settings import Settings, get_settings


def db_id(what: str):
    """The one type of every id in a URL: a positive int that fits the id columns. Anything else
    (0, -1, 2**63, "abc") is a 422 before it reaches the database (where it used to overflow: 500)."""
    return Annotated[int, Path(ge=1, le=MAX_ID, description=f"id of the {what}")]


ProjectId, ClassId, JobId = db_id("project"), db_id("class"), db_id("job")
SampleId, TokenId = db_id("sample"), db_id("API token")


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as db:
        yield db


def current_user_or_none(request: Request, db: Session = Depends(get_db)) -> User | None:
    """The user of a Bearer token or of the session cookie (with its CSRF check), else None."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        user = user_for_token(db, auth[7:].strip())
        if user is None:
            raise HTTPException(401, "invalid or revoked API token")
        return user
    session = request.app.state.signer.loads(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not csrf_ok(session, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, "missing or wrong CSRF token (send the X-CSRF-Token header)")
    user = db.get(User, session.user_id)
    if user is None or user.session_version != session.version:
        return None  # signed out since (everywhere), or the account is gone
    request.state.csrf = session.csrf
    return user


def current_user(user: User | None = Depends(current_user_or_none)) -> User:
    if user is None:
        raise HTTPException(401, "sign in, or send `Authorization: Bearer <API token>`",
                            headers={"WWW-Authenticate": "Bearer"})
    return user


def owned_project(project_id: ProjectId, user: User = Depends(current_user),
                  db: Session = Depends(get_db)) -> Project:
    """The project if it is the user's; someone else's project is as unknown as a missing one."""
    project = db.get(Project, project_id)
    if project is None or project.user_id != user.id:
        raise HTTPException(404, f"project {project_id} not found")
    return project


def owned_class(class_id: ClassId, project: Project = Depends(owned_project),
                db: Session = Depends(get_db)) -> Label:
    label = db.get(Label, class_id)
    if label is None or label.project_id != project.id:
        raise HTTPException(404, f"class {class_id} not found")
    return label


def owned_job(job_id: JobId, user: User = Depends(current_user), db: Session = Depends(get_db)) -> Job:
    job = db.get(Job, job_id)
    project = db.get(Project, job.project_id) if job else None
    if project is None or project.user_id != user.id:
        raise HTTPException(404, f"job {job_id} not found")
    return job


def authorized_job(request: Request, job_id: int) -> Job:
    """``owned_job`` in one call and one session: the hot Try it path. A finished job seen with
    the same API token is remembered for a few seconds (revoking tokens and deleting jobs clear
    this memory) so a script posting many predictions does not hit the database each time."""
    auth = request.headers.get("authorization", "")
    key = (token_hash(auth[7:].strip()), job_id) if auth[:7].lower() == "bearer " else None
    cache = request.app.state.access_cache
    if key and (job := cache.get(key)) is not None:
        return job
    with request.app.state.sessions() as db:
        job = owned_job(job_id, current_user(current_user_or_none(request, db)), db)
    if key and job.status == "succeeded":
        cache.put(key, job)
    return job


def owned_sample(sample_id: SampleId, user: User = Depends(current_user),
                 db: Session = Depends(get_db)) -> Sample:
    sample = db.get(Sample, sample_id)
    if sample is None or sample.label.project.user_id != user.id:
        raise HTTPException(404, f"sample {sample_id} not found")
    return sample


def content_type(*allowed: str):
    """A dependency answering 415 unless the request body has one of the ``allowed`` types."""

    async def check(request: Request) -> None:  # async: no thread hop for a header check
        got = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if got not in allowed:
            raise HTTPException(415, f"send {' or '.join(allowed)}, not {got or 'no content type'}")

    return Depends(check)


JSON = content_type("application/json")
MULTIPART = content_type("multipart/form-data")

__all__ = ["get_db", "get_settings", "Settings", "current_user", "current_user_or_none",
           "owned_project", "owned_class", "owned_job", "owned_sample", "JSON", "MULTIPART"]
