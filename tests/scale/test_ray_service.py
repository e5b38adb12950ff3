"""The service with ``executor=ray`` on a real local Ray cluster: the worker process claims jobs
from the database and sends each one to Ray as a task; progress comes back live through the relay
actor; cancel kills the task; a killed Ray worker process re-queues, then fails, the job."""
from __future__ import annotations

import io
import json
import os
import socket
import signal
import time
import zipfile

import pytest
from service_helpers import FAST, Api, export_bundle, make_settings, new_client, wait_for
from fastapi.testclient import TestClient
from sqlalchemy import select

from konstrukt.service import create_app
from konstrukt.service.db import JobEvent

pytestmark = pytest.mark.scale

LONG = {**FAST, "num_epochs": 1000, "early_stopping": False}


@pytest.fixture(scope="module")
def ray_app(ray_cluster, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("svc"), start_worker=True, max_attempts=2,
                             executor="ray", ray_address=ray_cluster)
    app = create_app(settings)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_OFFLINE", "1")
        env.setenv("KONSTRUKT_CACHE", str(tmp_path_factory.mktemp("cache")))
        with TestClient(app):
            yield app


@pytest.fixture(scope="module")
def dana(ray_app):
    return Api(new_client(ray_app), "dana@example.com")


def job_status(api, job_id):
    return api.get(f"/api/jobs/{job_id}").json()


def finished(api, job_id):
    job = job_status(api, job_id)
    return job if job["status"] in ("succeeded", "failed", "cancelled") else None


def events_of(app, job_id) -> list[dict]:
    with app.state.sessions() as db:
        return [e.data for e in db.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))]


def ray_worker_pid(app, job_id, after: int = 0) -> int | None:
    """The pid the task reported to its progress relay (announced as an event), newest first."""
    pids = [e["worker_pid"] for e in events_of(app, job_id) if e.get("worker_pid")]
    return pids[-1] if len(pids) > after else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_train_on_ray_live_progress_results_try_export(dana, digits, ray_app):
    project = dana.filled_project(digits)
    r = dana.post(f"/api/projects/{project['id']}/jobs",
                  json={"pipeline": "scratch_cnn", "config": {**FAST, "num_epochs": 200, "early_stopping": False}})
    assert r.status_code == 201
    job_id = r.json()["id"]
    seen_running = []  # progress read while the job was still running: it arrives live
    while not finished(dana, job_id):
        job = job_status(dana, job_id)
        if job["status"] == "running" and (job.get("progress") or {}).get("epoch"):
            seen_running.append(job["progress"])
        time.sleep(0.1)
    job = job_status(dana, job_id)
    assert job["status"] == "succeeded", job
    assert seen_running and seen_running[0]["stage"] == "train" and "train_loss" in seen_running[0]

    events = events_of(ray_app, job_id)
    assert any(e.get("worker_pid") and "Ray worker" in e["message"] for e in events)
    epochs = [e["epoch"] for e in events if e.get("stage") == "train" and e.get("epoch")]
    assert epochs == sorted(epochs) and epochs[-1] >= 1  # in order, as the task sent them
    text = json.dumps(events)
    assert "/tmp/" not in text and str(ray_app.state.settings.data_dir) not in text, text

    report = dana.get(f"/api/jobs/{job_id}/report").json()
    assert report["classes"] == ["one", "zero"] and "confusion_matrix" in report["test"]
    assert job["summary"]["pipeline"] == "scratch_cnn"
    unseen = sorted((digits.parent / "digits_new" / "zero").iterdir())[0]
    r = dana.post(f"/api/jobs/{job_id}/predict", files={"file": (unseen.name, unseen.read_bytes())})
    assert r.status_code == 200 and r.json()["label"] in ("zero", "one")
    bundle = export_bundle(dana, job_id, "bundle")
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        assert {f"konstrukt-{job_id}-bundle/{n}" for n in ("predict.py", "config.json")} <= set(zf.namelist())


def test_cancel_stops_the_ray_task(dana, digits, ray_app):
    project = dana.filled_project(digits, name="cancel")
    job_id = dana.post(f"/api/projects/{project['id']}/jobs",
                       json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
    wait_for(lambda: (job_status(dana, job_id).get("progress") or {}).get("epoch"), timeout=120)
    pid = ray_worker_pid(ray_app, job_id)
    assert pid and alive(pid)
    assert dana.post(f"/api/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    job = wait_for(lambda: finished(dana, job_id), timeout=60)
    assert job["status"] == "cancelled"
    wait_for(lambda: not alive(pid), timeout=30)  # ray.cancel(force=True) killed the worker process


def test_killed_ray_worker_requeues_then_fails_the_job_with_the_reason(dana, digits, ray_app):
    project = dana.filled_project(digits, name="kill")
    job_id = dana.post(f"/api/projects/{project['id']}/jobs",
                       json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
    wait_for(lambda: (job_status(dana, job_id).get("progress") or {}).get("epoch"), timeout=120)
    first = ray_worker_pid(ray_app, job_id)
    os.kill(first, signal.SIGKILL)

    # Attempt 1 of 2 lost: back in the queue with the reason, then running again on a new worker.
    wait_for(lambda: any("queued again" in e.get("message", "") for e in events_of(ray_app, job_id)), timeout=60)
    second = wait_for(lambda: ray_worker_pid(ray_app, job_id, after=1), timeout=120)
    assert second != first
    assert "died" in next(e["message"] for e in events_of(ray_app, job_id) if "queued again" in e.get("message", ""))
    wait_for(lambda: (job_status(dana, job_id).get("progress") or {}).get("epoch"), timeout=120)
    assert job_status(dana, job_id)["attempts"] == 2
    os.kill(second, signal.SIGKILL)

    job = wait_for(lambda: finished(dana, job_id), timeout=60)  # last attempt lost: failed, never "running"
    assert job["status"] == "failed"
    assert "Ray worker running this job died" in job["error"] and "attempt 2 of 2" in job["error"]


def test_konstrukt_serve_with_the_ray_executor_trains_on_the_cluster(ray_cluster, digits, tmp_path):
    """`konstrukt serve --executor ray --ray-address …` as a user starts it (a real process)."""
    import socket
    import subprocess
    import sys

    import httpx

    from konstrukt.service.db import make_engine, make_sessionmaker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "KONSTRUKT_OFFLINE": "1", "KONSTRUKT_SECRET_KEY": "test"}
    proc = subprocess.Popen([sys.executable, "-m", "konstrukt", "serve", "--data-dir", str(tmp_path / "d"),
                             "--port", str(port), "--executor", "ray", "--ray-address", ray_cluster],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = [proc.stdout.readline() for _ in range(2)]
        assert any(f"Ray cluster at {ray_cluster}" in line for line in banner), banner
        wait_for(lambda: _listening(port), timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:  # a loaded machine answers slowly
            user = http.post("/api/auth/signup", json={"email": "f@example.com", "password": "correct horse"}).json()
            h = {"X-CSRF-Token": user["csrf_token"]}
            pid = http.post("/api/projects", json={"name": "p", "task": "image"}, headers=h).json()["id"]
            for label in ("zero", "one"):
                cid = http.post(f"/api/projects/{pid}/classes", json={"name": label}, headers=h).json()["id"]
                files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted((digits / label).iterdir())]
                assert http.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=h).status_code == 200
            job_id = http.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": FAST},
                               headers=h).json()["id"]
            job = wait_for(lambda: (j := http.get(f"/api/jobs/{job_id}").json())["status"] in
                           ("succeeded", "failed", "cancelled") and j, timeout=180)
        assert job["status"] == "succeeded", job
        with make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'd' / 'konstrukt.db'}"))() as db:
            events = [e.data for e in db.scalars(select(JobEvent).where(JobEvent.job_id == job_id))]
        assert any("Ray worker" in e.get("message", "") for e in events)  # it ran as a Ray task
    finally:
        proc.terminate()
        proc.wait(30)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
