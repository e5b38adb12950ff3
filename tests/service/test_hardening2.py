"""Regression tests of the service's second hardening round (issue 20, items 2, 7, 8, 9, 10): each
reproduces what a probe of the server found and fails on the code that had it."""
from __future__ import annotations

import asyncio
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from service_helpers import Api, LiveServer, make_settings
from sqlalchemy import event

from konstrukt.service import create_app

MB = 1024 * 1024
TEMPLATES = Path(__file__).resolve().parents[2] / "konstrukt" / "service" / "templates"


# ------------------------------------------------------------- 2. refused before the body is read

def _asgi(app, method: str, path: str, headers: dict[str, str], body_size: int, chunk: int = 64 * 1024):
    """Call ``app`` with a body of ``body_size`` bytes streamed in chunks; return (status, detail,
    bytes the app pulled from the stream)."""
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        if pulled >= body_size:
            return {"type": "http.request", "body": b"", "more_body": False}
        part = min(chunk, body_size - pulled)
        pulled += part
        return {"type": "http.request", "body": b"\0" * part, "more_body": pulled < body_size}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body.decode(errors="replace"), pulled


def _tmp_entries(app) -> int:
    return sum(1 for _ in (app.state.settings.data_dir / "tmp").rglob("*"))


def test_wrong_content_types_and_anonymous_uploads_are_refused_before_the_body(app, client):
    alice = Api(client, "alice@example.com")
    project = alice.project()
    cid = project["classes"][0]["id"]
    before = _tmp_entries(app)
    huge = 300 * MB
    status, detail, pulled = _asgi(app, "POST", "/api/auth/login",
                                   {"content-type": "text/plain", "content-length": str(huge)}, huge)
    assert status == 413 and pulled == 0, (status, detail)  # 1 MiB cap, whatever the content type
    status, detail, pulled = _asgi(app, "POST", "/api/auth/login", {"content-type": "text/plain",
                                                                    "content-length": "500"}, 500)
    assert status == 415 and "application/json" in detail and pulled == 0
    upload = f"/api/projects/{project['id']}/classes/{cid}/samples"
    multipart = {"content-type": "multipart/form-data; boundary=x", "content-length": str(huge)}
    status, detail, pulled = _asgi(app, "POST", upload, multipart, huge)
    assert status == 401 and pulled == 0, (status, detail)  # no login: nothing read, nothing spooled
    status, _, pulled = _asgi(app, "POST", upload, {**multipart, "authorization": "Bearer kt_forged"}, huge)
    assert status == 401 and pulled == 0
    cookie = f"konstrukt_session={client.cookies['konstrukt_session']}"
    status, detail, pulled = _asgi(app, "POST", upload, {**multipart, "cookie": cookie}, huge)  # no CSRF token
    assert status == 403 and "CSRF" in detail and pulled == 0
    status, _, pulled = _asgi(app, "POST", "/api/jobs/1/predict", {**multipart, "content-length": str(60 * MB)},
                              60 * MB)
    assert status == 413 and pulled == 0  # Try it takes one file: its limit, not the archive's
    assert _tmp_entries(app) == before


def test_a_chunked_body_is_counted_while_it_streams_whatever_its_type(app, client):
    Api(client, "alice@example.com")
    for ctype in ("application/json", "text/plain"):
        status, detail, pulled = _asgi(app, "POST", "/api/projects",
                                       {"content-type": ctype, "transfer-encoding": "chunked"}, 300 * MB)
        if ctype == "text/plain":
            assert status == 415 and pulled == 0
        else:
            assert status == 413 and "1 MiB" in detail and pulled <= 1 * MB + 64 * 1024, (status, pulled)


def test_a_real_server_answers_an_anonymous_300_mb_upload_at_once_and_writes_nothing(tmp_path):
    app = create_app(make_settings(tmp_path))
    with LiveServer(app) as live:
        head = (f"POST /api/projects/1/classes/1/samples HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: {300 * MB}\r\n\r\n")
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
            s.sendall(head.encode() + b"--xyz\r\nContent-Disposition: form-data; name=\"files\"; "
                                      b"filename=\"a.zip\"\r\n\r\n" + b"\0" * (256 * 1024))
            answer = s.recv(4096).decode(errors="replace")
        assert answer.startswith("HTTP/1.1 401"), answer[:200]
        assert time.monotonic() - started < 5
        staged = list((app.state.settings.data_dir / "tmp").rglob("*"))
        assert staged == []


# ------------------------------------------------------------------------------- 7. sign-in lockout

def test_guessing_at_one_account_locks_neither_it_nor_other_accounts_behind_the_address(app, client):
    Api(client, "victim@example.com", password="the right password")
    Api(TestClient(app), "alice@example.com", password="alice's password")
    guesser = TestClient(app)  # all TestClients share one address: "testclient"
    for n in range(10):
        r = guesser.post("/api/auth/login", json={"email": "victim@example.com", "password": f"guess {n}"})
        assert r.status_code == 401
    # another account behind the same address signs in
    r = TestClient(app).post("/api/auth/login", json={"email": "alice@example.com", "password": "alice's password"})
    assert r.status_code == 200, r.text
    # the owner, from another address, signs in: nobody can lock an account by its e-mail
    owner = TestClient(app, client=("203.0.113.7", 40000))
    r = owner.post("/api/auth/login", json={"email": "victim@example.com", "password": "the right password"})
    assert r.status_code == 200, r.text
    # the guessing address stays stopped on that account, even with the right password
    r = guesser.post("/api/auth/login", json={"email": "victim@example.com", "password": "the right password"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # and another address's wrong guess at the much-guessed account is a 429 too (no lockout of the owner)
    r = owner.post("/api/auth/login", json={"email": "victim@example.com", "password": "guess 11"})
    assert r.status_code == 429


# ------------------------------------------------------------------- 8. sign-up throttle and quotas

def test_sign_ups_are_throttled_per_address(tmp_path):
    app = create_app(make_settings(tmp_path, signups_per_address_per_hour=3))
    with TestClient(app) as c:
        codes = [c.post("/api/auth/signup", json={"email": f"u{n}@example.com", "password": "a fine password"}
                        ).status_code for n in range(5)]
        assert codes == [201, 201, 201, 429, 429]
        r = c.post("/api/auth/signup", json={"email": "u9@example.com", "password": "a fine password"})
        assert "sign-ups" in r.json()["detail"] and int(r.headers["retry-after"]) > 60
        other = TestClient(app, client=("198.51.100.2", 1000))
        assert other.post("/api/auth/signup", json={"email": "v@example.com", "password": "a fine password"}
                          ).status_code == 201


def test_quotas_per_user_have_clear_messages(tmp_path, digits):
    app = create_app(make_settings(tmp_path, max_projects_per_user=2, max_samples_per_user=5,
                                   max_bytes_per_user=10 ** 9, max_active_jobs_per_user=1))
    with TestClient(app) as c:
        alice = Api(c, "alice@example.com")
        project = alice.project("A")
        files = [(p.name, p.read_bytes()) for p in sorted((digits / "zero").iterdir())]
        r = alice.upload(project, "zero", files[:3]).json()
        assert len(r["added"]) == 3
        r = alice.upload(project, "one", [(p.name, p.read_bytes()) for p in sorted((digits / "one").iterdir())[:4]]).json()
        assert len(r["added"]) == 2 and len(r["rejected"]) == 2
        assert "5 examples" in r["rejected"][0]["error"]
        alice.project("B", classes=())
        r = alice.post("/api/projects", json={"name": "C", "task": "image"})
        assert r.status_code == 409 and "2 projects" in r.json()["detail"]
        url = f"/api/projects/{project['id']}/jobs"
        assert alice.post(url, json={"pipeline": "scratch_cnn"}).status_code == 201
        r = alice.post(url, json={"pipeline": "scratch_cnn"})
        assert r.status_code == 429 and "1 jobs queued or running" in r.json()["detail"]
        app.state.settings = app.state.settings.with_(max_bytes_per_user=1)
        bob = Api(TestClient(app), "bob@example.com")
        r = bob.upload(bob.project("B"), "zero", files[:1]).json()
        assert not r["added"] and "the most one account may store" in r["rejected"][0]["error"]


# ---------------------------------------------------------------- 9. limits hold under parallel requests

@pytest.fixture
def slow_counts(app, client):
    """Widen the gap between counting and inserting (as a loaded server does): after every COUNT a
    request waits a little, so parallel requests that count before one of them inserts all see room."""
    def pause(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT COUNT"):
            time.sleep(0.1)

    event.listen(app.state.engine, "after_cursor_execute", pause)
    yield
    event.remove(app.state.engine, "after_cursor_execute", pause)


def test_parallel_class_creates_cannot_pass_the_class_limit(app, client, slow_counts):
    alice = Api(client, "alice@example.com")
    app.state.settings = app.state.settings.with_(max_classes_per_project=5)
    pid = alice.project(classes=("a", "b", "c"))["id"]
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda n: alice.post(f"/api/projects/{pid}/classes", json={"name": f"n{n}"}).status_code,
                              range(12)))
    assert codes.count(201) == 2 and codes.count(409) == 10, codes
    assert len(alice.get(f"/api/projects/{pid}").json()["classes"]) == 5


def test_parallel_uploads_cannot_pass_the_sample_limit(app, client, digits, slow_counts):
    alice = Api(client, "alice@example.com")
    app.state.settings = app.state.settings.with_(max_samples_per_project=3)
    project = alice.project()
    files = sorted((digits / "zero").iterdir())[:8]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda p: alice.upload(project, "zero", [(p.name, p.read_bytes())]), files))
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 3


# ------------------------------------------------------------------------ 10. Content-Security-Policy

def test_pages_have_a_content_security_policy_and_no_inline_code(app, client):
    for path in ("/login",):
        csp = client.get(path).headers.get("content-security-policy", "")
        policy = dict(p.strip().split(" ", 1) for p in csp.split(";") if p.strip())
        assert policy.get("default-src") == "'self'" and policy.get("script-src") == "'self'", csp
        assert "unsafe" not in csp and policy.get("object-src") == "'none'"
        assert "blob:" in policy.get("img-src", "") and "mediastream:" in policy.get("media-src", "")
    Api(client, "alice@example.com")
    assert "content-security-policy" in client.get("/").headers
    assert "content-security-policy" not in client.get("/api/tasks").headers  # JSON: not a page
    for page in TEMPLATES.glob("*.html"):  # what the policy would block: inline scripts, styles, handlers
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", text), page.name


def test_every_route_that_takes_files_is_known_to_the_gate(app):
    """A new upload route must be added to gate.UPLOADS, or the gate would refuse its bodies (415)."""
    from konstrukt.service.gate import UPLOADS, rule_for

    # every route whose body is not JSON (multipart files, a raw archive …), from the app itself
    takes_files = [path for path, ops in app.openapi()["paths"].items() for op in ops.values()
                   if set((op.get("requestBody") or {}).get("content", {})) - {"application/json"}]
    assert "/api/projects/{project_id}/classes/{class_id}/samples" in takes_files, takes_files  # found at all
    rules = {path: rule_for("POST", re.sub(r"\{[^}]+\}", "7", path)) for path in takes_files}
    for path, rule in rules.items():
        assert rule in UPLOADS, f"{path} takes files but the gate has no rule for it"
    # and no gate rule is left over (a stale rule would let bodies through where no route takes them)
    used = {UPLOADS.index(rule) for rule in rules.values()}
    assert used == set(range(len(UPLOADS))), [UPLOADS[i].pattern.pattern for i in set(range(len(UPLOADS))) - used]
