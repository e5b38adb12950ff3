"""Browser pages: thin HTML shells; everything they show and do goes through the REST API."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from ..db import Project, User
from ..deps import JobId, ProjectId, current_user_or_none, get_db, owned_job, owned_project

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=Path(__file__).parent.parent / "templates")


class SignInRequired(Exception):
    """A page was asked for by someone signed out; the app answers with a redirect to /login."""


def page_user(user: User | None = Depends(current_user_or_none)) -> User:
    """The signed-in user of a page (signed-out visitors go to the sign-in page)."""
    if user is None:
        raise SignInRequired
    return user


def sign_in_redirect(request: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse("/login", 303)


def _page(request: Request, name: str, user: User | None, **context) -> HTMLResponse:
    return templates().TemplateResponse(request, name, {
        "user": user, "csrf": getattr(request.state, "csrf", ""),
        "demo": request.app.state.settings.demo, **context})


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, user: User | None = Depends(current_user_or_none)):
    if user:
        return RedirectResponse("/", 303)
    from ..demo import DEMO_EMAIL, DEMO_PASSWORD

    return _page(request, "login.html", None, demo_email=DEMO_EMAIL, demo_password=DEMO_PASSWORD)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: User = Depends(page_user)):
    return _page(request, "projects.html", user)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, user: User = Depends(page_user)):
    return _page(request, "account.html", user)


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(project_id: ProjectId, request: Request, user: User = Depends(page_user),
                 db: Session = Depends(get_db)):
    return _page(request, "project.html", user, project=owned_project(project_id, user, db))


@router.get("/projects/{project_id}/compare", response_class=HTMLResponse)
def compare_page(project_id: ProjectId, request: Request, user: User = Depends(page_user),
                 db: Session = Depends(get_db)):
    return _page(request, "compare.html", user, project=owned_project(project_id, user, db))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: JobId, request: Request, user: User = Depends(page_user),
             db: Session = Depends(get_db)):
    job = owned_job(job_id, user, db)
    return _page(request, "job.html", user, job=job, project=db.get(Project, job.project_id))


@router.get("/favicon.ico")
def favicon():
    """The icon browsers ask for on their own (pages link /static/favicon.svg): no 404 in any log."""
    return FileResponse(Path(__file__).parent.parent / "static" / "favicon.svg", media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})
