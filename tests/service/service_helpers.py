"""Helpers for the service tests (a module name of its own, so it never clashes with another conftest)."""
from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from konstrukt.service.settings import Settings

# Tiny and quick: the offline CNN on 32-px images, no top-up, a few epochs.
FAST = {"num_epochs": 2, "cv": 0, "target_size": 0, "image_size": 32, "batch_size": 8}


def make_settings(tmp_path: Path, **over) -> Settings:
    base = dict(data_dir=tmp_path / "data", secret_key="test-secret", start_worker=False, bcrypt_rounds=4,
                heartbeat_seconds=0.5, worker_poll_seconds=0.2, stale_after_seconds=10.0)
    base.update(over)
    return Settings(**base)


class Api:
    """A signed-in browser-like client: session cookie plus the CSRF header."""

    def __init__(self, client: TestClient, email: str, password: str = "correct horse"):
        self.client = client
        r = client.post("/api/auth/signup", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        self.user = r.json()
        self.headers = {"X-CSRF-Token": self.user["csrf_token"]}

    def __getattr__(self, method):
        def call(url, **kw):
            kw["headers"] = {**self.headers, **kw.get("headers", {})}
            return getattr(self.client, method)(url, **kw)

        return call

    def project(self, name="P", task="image", classes=("zero", "one")) -> dict:
        pid = self.post("/api/projects", json={"name": name, "task": task}).json()["id"]
        for c in classes:
            assert self.post(f"/api/projects/{pid}/classes", json={"name": c}).status_code == 201
        return self.get(f"/api/projects/{pid}").json()

    def upload(self, project: dict, class_name: str, files: list[tuple[str, bytes]]):
        cid = next(c["id"] for c in project["classes"] if c["name"] == class_name)
        return self.post(f"/api/projects/{project['id']}/classes/{cid}/samples",
                         files=[("files", (n, b, "application/octet-stream")) for n, b in files])

    def filled_project(self, digits: Path, name="P") -> dict:
        project = self.project(name)
        for c in ("zero", "one"):
            r = self.upload(project, c, [(p.name, p.read_bytes()) for p in sorted((digits / c).iterdir())])
            assert r.status_code == 200 and not r.json()["rejected"], r.text
        return self.get(f"/api/projects/{project['id']}").json()


def new_client(app) -> TestClient:
    """Another browser on the same running app (its own cookies)."""
    return TestClient(app)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def wait_for(predicate, timeout: float = 90.0, every: float = 0.25):
    """Poll until ``predicate()`` returns something truthy; fail with the last value on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s; last value {last!r}")


DONE = ("succeeded", "failed", "cancelled")  # a job in one of these states moves no more


def wait_for_job(api, job_id: int, timeout: float = 240.0) -> dict:
    """Poll ``GET /api/jobs/{job_id}`` until the job is done (:data:`DONE`): its JSON; fail with
    the last answer on timeout."""
    return wait_for(lambda: (j := api.get(f"/api/jobs/{job_id}").json())["status"] in DONE and j, timeout)


def work_one_export(app, pid: int = 4242) -> int | None:
    """What the worker's export thread does: claim an export job and build it (its id; None when
    none is queued)."""
    from konstrukt.service.exports import run_export
    from konstrukt.service.jobs import claim_next

    with app.state.sessions() as db:
        job = claim_next(db, pid=pid, exports=True)
        job_id = job.id if job else None
    if job_id:
        run_export(app.state.sessions, app.state.settings, job_id)
    return job_id


class LiveServer:
    """The app served by uvicorn on a free loopback port in a thread (real sockets, real concurrency)."""

    def __init__(self, app):
        import socket

        self.app = app
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LiveServer":
        import threading

        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def running_worker_app(tmp_path_factory):
    """Yield an app whose real worker process runs offline with a private embedding cache."""
    import pytest

    from konstrukt.service import create_app

    settings = make_settings(tmp_path_factory.mktemp("svc"), start_worker=True, max_attempts=1)
    app = create_app(settings)
    with pytest.MonkeyPatch.context() as env:  # the worker process inherits an offline, private setup
        env.setenv("KONSTRUKT_OFFLINE", "1")
        env.setenv("KONSTRUKT_CACHE", str(tmp_path_factory.mktemp("cache")))
        with TestClient(app):
            yield app


def browser_sign_up(page, server: str, email: str, start: str = "/") -> None:
    """Create an account on the sign-in page and land on the projects page."""
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a shared, busy machine: the first upload imports decoders (7-15 s)
    page.goto(server + start)
    page.click("#tab-up")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', "a good password")
    page.click("#auth-submit")
    page.wait_for_url(server + "/")


def browser_new_project(page, name: str, task: str | None = None) -> None:
    """Create a project from the projects page and open it."""
    from playwright.sync_api import expect

    page.fill('#new-project input[name="name"]', name)
    if task:
        page.select_option("#task-select", task)
    page.click('#new-project button[type="submit"]')
    page.wait_for_url("**/projects/*")
    # the page is live once its script has loaded the project (the class form's handler is attached)
    expect(page.locator("#sample-total")).to_contain_text("example", timeout=60_000)


def export_bundle(api, job_id: int, fmt: str = "bundle", timeout: float = 180.0):
    """Start the export job of ``fmt`` for ``job_id``, wait for it, and download the zip (the
    response of ``GET /api/jobs/{id}/export``)."""
    r = api.post(f"/api/jobs/{job_id}/exports", json={"format": fmt})
    assert r.status_code == 202, r.text
    export_id = r.json()["job"]["id"]
    done = wait_for_job(api, export_id, timeout)
    assert done["status"] == "succeeded", done
    return api.get(f"/api/jobs/{job_id}/export?format={fmt}")


def page_wait(page, expression: str, timeout: float = 30.0) -> None:
    """Wait until the JavaScript ``expression`` is true in ``page``. Playwright's
    ``wait_for_function`` evaluates its predicate with ``eval``, which the pages' Content-Security-
    Policy forbids (no 'unsafe-eval'), so this polls ``page.evaluate`` (a DevTools call: no CSP)."""
    wait_for(lambda: page.evaluate(expression), timeout=timeout, every=0.1)


PHONE = {"width": 390, "height": 844}  # the narrowest phone the pages are made for (#21 item 8)


def no_sideways_scroll(page) -> None:
    """Nothing on the page is wider than the screen: the page itself does not scroll sideways (a
    wide table may scroll inside its own box)."""
    over = page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        return document.documentElement.scrollWidth <= width + 1 ? [] :
          [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > width + 1
            && !e.closest('.scroll-x') && e.offsetParent !== null)
            .slice(0, 5).map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className}`).concat(['(the page)']);
    }""")
    assert over == [], f"{page.url}: wider than the screen: {over}"


def screenshot(page, folder: Path, name: str) -> Path:
    """A full-page screenshot under the test's tmp folder (to look at, not to compare pixels)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
