"""Regression tests of the service's hardening (issue 7): each reproduces a defect found by probing
the server as an attacker or a clumsy user would, and fails on the code that had it."""
from __future__ import annotations

import asyncio
import io
import os
import shutil
import stat
import struct
import wave
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from service_helpers import FAST, Api, LiveServer, make_settings, new_client, zip_bytes

from konstrukt.data import safe_extract_zip
from konstrukt.errors import DataError
from konstrukt.service import create_app
from konstrukt.service.db import Job, Label, Project
from konstrukt.service.storage import job_dir

HOSTILE_IDS = ["0", "-1", str(2**31), str(2**63), str(2**64), "9" * 40, "abc", "1e3", "1.5", "%00"]


def _png(digits: Path, cls: str = "zero", n: int = 3) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((digits / cls).iterdir())[:n]]


def _no_server_path(text: str, *roots: Path) -> None:
    for root in (*roots, Path("/dev/shm"), Path("/tmp")):
        assert str(root) not in text, text


# ------------------------------------------------------------------ 1. cross-tenant warm-model leak

@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, digits) -> dict[tuple[str, str], Path]:
    """Two tiny trained runs whose classes have different names."""
    import konstrukt

    runs = {}
    for names in (("zero", "one"), ("cat", "dog")):
        data = tmp_path_factory.mktemp("data")
        for src, dst in zip(("zero", "one"), names):
            shutil.copytree(digits / src, data / dst)
        out = tmp_path_factory.mktemp("run") / "run"
        konstrukt.train(data, task="image", out=out, pipeline="scratch_cnn", config=FAST, verbose=False)
        runs[names] = out
    return runs


def _trained_job(app, api: Api, run: Path) -> tuple[int, int]:
    """A project whose job has succeeded with ``run`` (as the worker would leave it)."""
    project = api.project(classes=())
    with app.state.sessions() as db:
        job = Job(project_id=project["id"], status="succeeded", pipeline="scratch_cnn", config={})
        db.add(job)
        db.commit()
        shutil.copytree(run, job_dir(app.state.settings.data_dir, project["id"], job.id) / "run")
        return project["id"], job.id


def test_a_deleted_projects_warm_model_never_answers_for_another_user(app, client, two_runs, digits):
    alice, bob = Api(client, "alice@example.com"), Api(new_client(app), "bob@example.com")
    image = ("x.png", _png(digits, "one", 1)[0][1])
    pid_a, job_a = _trained_job(app, alice, two_runs[("zero", "one")])
    r = alice.post(f"/api/jobs/{job_a}/predict", files={"file": image})  # Try it: the model is now warm
    assert r.status_code == 200 and set(r.json()["probabilities"]) == {"zero", "one"}
    assert alice.delete(f"/api/projects/{pid_a}").status_code == 204

    pid_b, job_b = _trained_job(app, bob, two_runs[("cat", "dog")])
    r = bob.post(f"/api/jobs/{job_b}/predict", files={"file": image})
    assert r.status_code == 200 and set(r.json()["probabilities"]) == {"cat", "dog"}  # not alice's model
    assert (pid_b, job_b) != (pid_a, job_a) and job_b > job_a  # ids are never handed out twice
    assert alice.post(f"/api/jobs/{job_a}/predict", files={"file": image}).status_code == 404
    assert len(app.state.runs._items) == 1  # alice's model left memory with her project


def test_warm_models_are_keyed_by_a_run_key_not_by_the_job_id(app, client, two_runs, digits):
    """Even if an id came back (a restored backup, another database), the cache would not mix runs up."""
    alice = Api(client, "alice@example.com")
    image = ("x.png", _png(digits, "one", 1)[0][1])
    _, job_id = _trained_job(app, alice, two_runs[("zero", "one")])
    assert alice.post(f"/api/jobs/{job_id}/predict", files={"file": image}).status_code == 200
    settings = app.state.settings
    with app.state.sessions() as db:  # same id, same folder, another model: as after id reuse
        job = db.get(Job, job_id)
        run = job_dir(settings.data_dir, job.project_id, job.id) / "run"
        shutil.rmtree(run)
        shutil.copytree(two_runs[("cat", "dog")], run)
        job.run_key = "0" * 32
        db.commit()
    app.state.access_cache.clear()
    r = alice.post(f"/api/jobs/{job_id}/predict", files={"file": image})
    assert set(r.json()["probabilities"]) == {"cat", "dog"}


# ------------------------------------------------------------------ 2. SSE streams and the pool

def _queued_job(app, user_id: int) -> int:
    with app.state.sessions() as db:
        project = Project(user_id=user_id, name="waiting", task="image")
        db.add(project)
        db.flush()
        job = Job(project_id=project.id, status="queued", pipeline="scratch_cnn", config={})
        db.add(job)
        db.commit()
        return job.id


async def _hundred_streams_and_a_busy_api(app, url: str) -> dict:
    users = []
    for n in range(5):  # 5 users × 20 streams (the per-user cap) = 100 idle streams
        c = httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=40))
        me = (await c.post("/api/auth/signup", json={"email": f"s{n}@example.com", "password": "stream password"})).json()
        users.append((c, _queued_job(app, me["id"])))
    other = httpx.AsyncClient(base_url=url, timeout=10)
    headers = {"X-CSRF-Token": (await other.post("/api/auth/signup", json={
        "email": "busy@example.com", "password": "busy password"})).json()["csrf_token"]}
    streams, out = [], {}
    try:
        for c, job_id in users:
            for _ in range(20):
                r = await c.send(c.build_request("GET", f"/api/jobs/{job_id}/events"), stream=True)
                assert r.status_code == 200
                streams.append(r)
        await asyncio.sleep(1.0)  # every stream has polled at least once
        out["checked_out"] = app.state.engine.pool.checkedout()
        c, job_id = users[0]
        out["21st"] = (await c.get(f"/api/jobs/{job_id}/events")).status_code
        for i in range(30):  # another user's reads and writes stay quick
            r = await other.post("/api/projects", json={"name": f"p{i}", "task": "image"}, headers=headers)
            assert r.status_code == 201, r.text
            assert (await other.get("/api/projects")).status_code == 200
        out["open"] = sum(app.state.streams.open_count(n) for n in range(1, 10))
    finally:
        for r in streams:
            await r.aclose()
        for c, _ in users:
            await c.aclose()
        await other.aclose()
    return out


def test_a_hundred_idle_event_streams_hold_no_connections_and_block_nobody(tmp_path):
    app = create_app(make_settings(tmp_path))
    with LiveServer(app) as live:
        out = asyncio.run(asyncio.wait_for(_hundred_streams_and_a_busy_api(app, live.url), 120))
    assert out["open"] == 100
    assert out["checked_out"] <= 2, out  # was one connection per stream until the pool ran dry
    assert out["21st"] == 429


def test_last_event_id_is_checked_and_resumes(alice):
    project = alice.project()
    with alice.client.app.state.sessions() as db:
        job = Job(project_id=project["id"], status="succeeded", pipeline="scratch_cnn", config={})
        db.add(job)
        db.commit()
        from konstrukt.service.jobs import add_event

        for n in range(3):
            add_event(db, job, {"stage": "train", "message": f"event {n}"})
        db.commit()
        job_id = job.id
    for bad in ("abc", "-1", "9" * 40, str(2**63)):
        r = alice.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": bad})
        assert r.status_code == 422, (bad, r.status_code)
    first = alice.get(f"/api/jobs/{job_id}/events").text
    ids = [int(line[3:]) for line in first.splitlines() if line.startswith("id:")]
    resumed = alice.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": str(ids[0])}).text
    assert "event 0" not in resumed and "event 2" in resumed


# ------------------------------------------------------------------ 3. zip amplification

def test_many_small_zero_members_are_refused_before_they_fill_the_disk(alice, app):
    project = alice.project()
    members = {f"z/{n}.png": b"\0" * (512 * 1024) for n in range(40)}  # 20 MiB from ~20 KiB
    r = alice.upload(project, "zero", [("small-bombs.zip", zip_bytes(members))])
    assert r.status_code == 200 and r.json()["added"] == []
    [refusal] = r.json()["rejected"]
    assert refusal["file"] == "small-bombs.zip" and "zip bomb" in refusal["error"]
    _no_server_path(refusal["error"], app.state.settings.data_dir)
    assert not any((app.state.settings.data_dir / "tmp").iterdir())


def test_an_archive_may_not_expand_past_the_service_limit_or_the_free_disk(alice, app, digits, monkeypatch):
    project = alice.project()
    pngs = {f"d/{n}": b for n, b in _png(digits, "zero", 8)}
    app.state.settings = app.state.settings.with_(max_unzip_bytes=2000)
    r = alice.upload(project, "zero", [("digits.zip", zip_bytes(pngs))])
    assert r.json()["added"] == [] and "limit" in r.json()["rejected"][0]["error"]

    app.state.settings = app.state.settings.with_(max_unzip_bytes=10**9, min_free_disk_bytes=10**6)
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=10**6 + 1500))
    r = alice.upload(project, "zero", [("digits.zip", zip_bytes(pngs))])
    assert r.json()["added"] == [] and "limit" in r.json()["rejected"][0]["error"]
    monkeypatch.setattr(shutil, "disk_usage", real)
    assert len(alice.upload(project, "zero", [("digits.zip", zip_bytes(pngs))]).json()["added"]) == 8


def test_extraction_counts_bytes_and_stops_at_the_first_breach(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for n in range(5):
            zf.writestr(f"m{n}.bin", os.urandom(3000))
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="per-file limit"):
        safe_extract_zip(archive, dest, max_member_bytes=2000, name="upload.zip")
    assert not any(dest.rglob("*.bin"))
    # Headers that lie: shrink one member's sizes in the central directory and the local header.
    raw = bytearray(archive.read_bytes())
    for sig, offset in ((b"PK\x01\x02", 20), (b"PK\x03\x04", 18)):
        at = raw.find(sig)
        raw[at + offset:at + offset + 8] = struct.pack("<II", 100, 100)
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(raw))
    with pytest.raises(DataError) as err:
        safe_extract_zip(liar, tmp_path / "out2", name="liar.zip")
    assert "liar.zip" in str(err.value) and str(tmp_path) not in str(err.value)
    assert not any((tmp_path / "out2").rglob("*.bin"))


# ------------------------------------------------------------------ 5. hostile ids and headers

def _id_routes(app) -> list[tuple[str, str]]:
    out = []
    for path, item in app.openapi()["paths"].items():
        if "_id}" in path:
            out += [(method.upper(), path) for method in item if method in ("get", "post", "patch", "delete")]
    return out


def test_every_id_route_answers_hostile_ids_and_headers_with_4xx(app, client, digits):
    alice = Api(client, "alice@example.com")
    project = alice.project()
    sample = alice.upload(project, "zero", _png(digits, "zero", 1)).json()["added"][0]
    token = alice.post("/api/tokens", json={"name": "walk"}).json()["token"]
    script = new_client(app)
    routes = _id_routes(app)
    assert len(routes) >= 15
    for method, path in routes:
        for bad in HOSTILE_IDS:
            url = path
            for name in ("project_id", "class_id", "job_id", "sample_id", "token_id", "name"):
                url = url.replace("{" + name + "}", bad if name != "name" else "report.json")
            kw: dict = {"headers": {"Authorization": f"Bearer {token}", "Last-Event-ID": "abc"}}
            if method in ("POST", "PATCH"):
                kw["files" if url.endswith(("samples", "predict")) else "json"] = (
                    {"file": ("a.png", b"x")} if url.endswith(("samples", "predict")) else {"name": "x"})
            r = script.request(method, url, **kw)
            assert r.status_code < 500, (method, url, r.status_code, r.text)
            assert r.status_code in (404, 405, 415, 422), (method, url, r.status_code)
            _no_server_path(r.text, app.state.settings.data_dir)
    assert script.get(f"/api/projects/{project['id']}", headers={"Authorization": "Bearer " + "x" * 10_000}
                      ).status_code == 401
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 1  # nothing lost
    assert alice.get(f"/api/samples/{sample['id']}/file").status_code == 200


def test_deleting_a_class_while_its_upload_runs_is_a_409_and_leaves_nothing(app, client, digits):
    from konstrukt.service.routes.projects import _store_uploads
    from starlette.datastructures import UploadFile

    alice = Api(client, "alice@example.com")
    project = alice.project()
    cid = project["classes"][0]["id"]
    with app.state.sessions() as db:
        label = db.get(Label, cid)  # the upload has looked the class up …
        assert alice.delete(f"/api/projects/{project['id']}/classes/{cid}").status_code == 204  # … then it goes
        files = [UploadFile(io.BytesIO(b), filename=n) for n, b in _png(digits, "zero", 2)]
        with pytest.raises(HTTPException) as err:
            _store_uploads(files, label, "image", db, app.state.settings)
    assert err.value.status_code == 409 and "deleted" in err.value.detail
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 0
    assert not (app.state.settings.data_dir / "projects" / str(project["id"]) / "samples" / str(cid)).exists()


# ------------------------------------------------------------------ 6. auth

def test_failed_sign_ins_are_rate_limited_per_account_and_address(client):
    Api(client, "victim@example.com", password="the right password")
    other = new_client(client.app)
    for _ in range(10):
        assert other.post("/api/auth/login", json={"email": "victim@example.com", "password": "guess"}).status_code == 401
    r = other.post("/api/auth/login", json={"email": "victim@example.com", "password": "the right password"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # the same address guessing at other accounts is stopped too
    assert other.post("/api/auth/login", json={"email": "x@example.com", "password": "guess"}).status_code == 429


def test_weak_passwords_are_refused_with_the_reason(client):
    for weak, why in (("short1", "10 characters"), ("1234567890", "common"), ("qwertyuiop", "common"),
                      ("aaaaaaaaaaaa", "common")):
        r = client.post("/api/auth/signup", json={"email": "w@example.com", "password": weak})
        assert r.status_code == 422 and why in r.text, (weak, r.text)


def test_long_passwords_count_beyond_72_bytes(client):
    long = "a sentence of many words " * 4  # 100 characters
    Api(client, "long@example.com", password=long)
    other = new_client(client.app)
    wrong_tail = long[:80] + "different tail here!"
    assert other.post("/api/auth/login", json={"email": "long@example.com", "password": wrong_tail}).status_code == 401
    assert other.post("/api/auth/login", json={"email": "long@example.com", "password": long}).status_code == 200


def test_signing_out_invalidates_copies_of_the_session_cookie(app, client):
    api = Api(client, "out@example.com")
    cookie = client.cookies.get("konstrukt_session")
    thief = new_client(app)
    thief.cookies.set("konstrukt_session", cookie)
    assert thief.get("/api/auth/me").status_code == 200
    assert api.post("/api/auth/logout").status_code == 204
    assert thief.get("/api/auth/me").status_code == 401
    assert thief.get("/api/projects").status_code == 401


def test_sign_up_does_not_tell_whether_an_address_has_an_account(client):
    Api(client, "known@example.com")
    r = new_client(client.app).post("/api/auth/signup", json={"email": "known@example.com",
                                                               "password": "another password"})
    assert r.status_code == 409 and "exist" not in r.json()["detail"]


def test_data_directory_database_and_key_are_owner_only(tmp_path):
    app = create_app(make_settings(tmp_path, secret_key=None))
    with TestClient(app):
        data = app.state.settings.data_dir
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("konstrukt.db", "secret_key"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


# ------------------------------------------------------------------ 7. crash leftovers, retried uploads

def test_staged_uploads_left_by_a_killed_server_are_removed_at_start(tmp_path):
    tmp = tmp_path / "data" / "tmp"
    (tmp / "tmpabc123").mkdir(parents=True)
    (tmp / "tmpabc123" / "half.png").write_bytes(b"x" * 1000)
    (tmp / "tmpxyz.zip").write_bytes(b"PK")
    with TestClient(create_app(make_settings(tmp_path))):
        assert not any(tmp.iterdir())


def test_retrying_an_upload_adds_no_duplicates(alice, digits):
    project = alice.project()
    files = _png(digits, "zero", 3)
    assert len(alice.upload(project, "zero", files).json()["added"]) == 3
    again = alice.upload(project, "zero", files).json()  # the client never saw the first answer
    assert again["added"] == [] and len(again["rejected"]) == 3
    assert all("already in this class" in x["error"] for x in again["rejected"])
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 3
    assert len(alice.upload(project, "one", files[:1]).json()["added"]) == 1  # another class may hold it


# ------------------------------------------------------------------ 8. no server paths

def test_messages_name_the_users_file_never_a_server_path(alice, app, two_runs, digits):
    data_dir = app.state.settings.data_dir
    project = alice.project()
    r = alice.upload(project, "zero", [("broken.zip", b"PK\x03\x04 not a zip"), ("bad.png", b"\x89PNG junk")])
    for x in r.json()["rejected"]:
        _no_server_path(x["error"], data_dir)
    r = alice.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn"})  # no data
    assert r.status_code == 422
    _no_server_path(r.text, data_dir)
    _, job_id = _trained_job(app, alice, two_runs[("zero", "one")])
    r = alice.post(f"/api/jobs/{job_id}/predict", files={"file": ("holiday.png", b"\x89PNG not really")})
    assert r.status_code == 422 and "holiday.png" in r.text
    _no_server_path(r.text, data_dir)


# ------------------------------------------------------------------ 9. small limits

def _wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return buf.getvalue()


def test_small_limits_have_clear_messages(alice, app, digits):
    project = alice.project()
    r = alice.upload(project, "zero", [("mac.zip", zip_bytes({"__MACOSX/._a.png": b"x", ".DS_Store": b"x"}))])
    assert "nothing usable" in r.json()["rejected"][0]["error"]

    sound = alice.project("S", task="sound", classes=("beep",))
    r = alice.upload(sound, "beep", [("blip.wav", _wav(0.05)), ("ok.wav", _wav(0.5))])
    assert [x["filename"] for x in r.json()["added"]] == ["ok.wav"]
    assert "shorter than the minimum of 100 ms" in r.json()["rejected"][0]["error"]

    app.state.settings = app.state.settings.with_(max_classes_per_project=3, max_samples_per_project=4)
    assert alice.post(f"/api/projects/{project['id']}/classes", json={"name": "two"}).status_code == 201
    r = alice.post(f"/api/projects/{project['id']}/classes", json={"name": "three"})
    assert r.status_code == 409 and "at most 3 classes" in r.json()["detail"]
    r = alice.upload(project, "one", _png(digits, "one", 6)).json()
    assert len(r["added"]) == 4 and all("limit" in x["error"] for x in r["rejected"])


# ------------------------------------------------------------------ 4. orphan workers

def _wait(predicate, timeout: float):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def _workers_of(data_dir: Path) -> list[int]:
    """PIDs of live worker processes serving ``data_dir`` (from their command lines)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"konstrukt.service.worker" in cmd and str(data_dir).encode() in cmd and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_the_worker_dies_with_a_killed_server(tmp_path):
    import signal
    import socket
    import subprocess
    import sys

    data = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = f"from konstrukt.service import serve; serve(port={port}, data_dir={str(data)!r})"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        [worker] = _wait(lambda: _workers_of(data), 60)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        _wait(lambda: not _alive(worker), 20)  # was re-parented to PID 1 and kept claiming jobs
    finally:
        server.kill()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only reaping is left


def test_a_new_server_stops_a_worker_left_from_before(tmp_path):
    import subprocess
    import sys

    settings = make_settings(tmp_path, start_worker=True)
    settings.data_dir.mkdir(parents=True)
    stale = subprocess.Popen([sys.executable, "-m", "konstrukt.service.worker", "--data-dir", str(settings.data_dir)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: _workers_of(settings.data_dir) == [stale.pid], 60)
        _wait(lambda: (settings.data_dir / "konstrukt.db").exists(), 30)  # it has started up
        app = create_app(settings)
        with TestClient(app):
            assert stale.wait(20) is not None  # stopped by the new server
            assert _workers_of(settings.data_dir) == [app.state.worker.pid]  # one worker, the new one
    finally:
        stale.kill()


def test_a_training_request_cannot_name_server_paths_or_resources(alice, digits):
    project = alice.filled_project(digits)
    url = f"/api/projects/{project['id']}/jobs"
    for config in ({"cache_dir": "/etc"}, {"pretrained": "/etc/passwd"}, {"device": "cuda:7"},
                   {"num_workers": 64}):
        r = alice.post(url, json={"pipeline": "scratch_cnn", "config": config})
        assert r.status_code == 422 and "config." in " ".join(r.json()["problems"]), (config, r.text)
    assert alice.get(url).json() == []  # nothing queued
    r = alice.post(url, json={"pipeline": "scratch_cnn", "config": {"pretrained": "none", **FAST}})
    assert r.status_code == 201
