"""Training jobs against the real worker process: lifecycle, live events, cancel, results,
Try it, download, and recovery when the worker is killed mid-training."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import pytest
from service_helpers import FAST, Api, export_bundle, make_settings, new_client, wait_for, running_worker_app
from fastapi.testclient import TestClient

from konstrukt.service import create_app
from konstrukt.service.db import Job, JobEvent, Project, User
from konstrukt.service.jobs import recover_orphans

LONG = {**FAST, "num_epochs": 1000, "early_stopping": False}


@pytest.fixture(scope="module")
def worker_app(tmp_path_factory):
    yield from running_worker_app(tmp_path_factory)


@pytest.fixture(scope="module")
def carol(worker_app):
    return Api(new_client(worker_app), "carol@example.com")


def job_status(api, job_id):
    return api.get(f"/api/jobs/{job_id}").json()


def finished(api, job_id):
    job = job_status(api, job_id)
    return job if job["status"] in ("succeeded", "failed", "cancelled") else None


def read_events(api, job_id) -> list[tuple[str, dict]]:
    events, kind = [], None
    with api.client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
    return events


def test_train_follow_results_try_download(carol, digits, worker_app):
    project = carol.filled_project(digits)
    r = carol.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn", "config": FAST})
    assert r.status_code == 201 and r.json()["status"] == "queued"
    job_id = r.json()["id"]

    events = read_events(carol, job_id)  # streams until the job ends
    stages = [e["stage"] for kind, e in events if kind == "progress"]
    assert "prepare" in stages and "train" in stages
    epochs = [e for _, e in events if e.get("stage") == "train" and e.get("epoch")]
    assert epochs and {"train_loss", "val_loss", "epochs"} <= set(epochs[0])
    assert events[-1] == ("status", {"status": "succeeded"})
    messages = json.dumps([e for _, e in events])  # e.g. "run written to …": no server path in it
    assert str(worker_app.state.settings.data_dir) not in messages and "/tmp/" not in messages, messages
    # one overall progress with the time left, in the events the job page follows (#21 item 4)
    overall = [e["overall"] for kind, e in events if kind == "progress" and "overall" in e]
    assert overall and overall == sorted(overall) and overall[-1] == 1.0

    # a message that names a training file names it as uploaded, not by its stored path (#21 item 12)
    from konstrukt.service.blobs import uploaded_names
    from konstrukt.service.storage import hide_paths, job_dir

    data = job_dir(worker_app.state.settings.data_dir, project["id"], job_id) / "data"
    names = uploaded_names(worker_app.state.settings, project["id"], job_id, data)
    uploaded = {f"{c['name']}/{s['filename']}" for c in project["classes"] for s in c["samples"]}
    assert set(names.values()) == uploaded
    stored, shown = next(iter(names.items()))
    assert hide_paths(f"cannot read {stored}", names) == f"cannot read {shown}"
    job = job_status(carol, job_id)
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["summary"]["pipeline"] == "scratch_cnn" and 0 <= job["summary"]["accuracy"] <= 1
    report = carol.get(f"/api/jobs/{job_id}/report").json()
    assert report["classes"] == ["one", "zero"] and "confusion_matrix" in report["test"]
    # the core's report text, for the page to render as it is: the same words as summary.md
    assert report["notes"] and report["notes"][0]["kind"] == "small_test"
    summary = carol.get(f"/api/jobs/{job_id}/files/summary.md").text
    assert all(n["text"] in summary for n in report["notes"])
    assert report["baseline"] is None or report["baseline"]["text"] in summary
    for name in ("curves.png", "confusion_matrix.png"):
        got = carol.get(f"/api/jobs/{job_id}/files/{name}")
        assert got.status_code == 200 and got.content[:4] == b"\x89PNG"
    assert carol.get(f"/api/jobs/{job_id}/files/..%2Fdata").status_code == 404

    unseen = sorted((digits.parent / "digits_new" / "zero").iterdir())[0]
    r = carol.post(f"/api/jobs/{job_id}/predict", files={"file": (unseen.name, unseen.read_bytes())})
    assert r.status_code == 200
    assert r.json()["label"] in ("zero", "one")
    assert abs(sum(r.json()["probabilities"].values()) - 1) < 1e-4
    from konstrukt.inference import UNSURE_BELOW  # the core's threshold, said by the API (#21 item 12)

    assert r.json()["unsure"] == (max(r.json()["probabilities"].values()) < UNSURE_BELOW)
    r = carol.post(f"/api/jobs/{job_id}/predict", files={"file": ("x.png", b"not an image")})
    assert r.status_code == 422 and r.json()["detail"]
    limits = worker_app.state.settings
    worker_app.state.settings = limits.with_(max_file_bytes=1000)
    try:
        r = carol.post(f"/api/jobs/{job_id}/predict", files={"file": ("big.png", b"\0" * 5000)})
        assert r.status_code == 413
    finally:
        worker_app.state.settings = limits

    token = carol.post("/api/tokens", json={"name": "script"}).json()
    script, auth = new_client(worker_app), {"Authorization": f"Bearer {token['token']}"}
    for _ in range(2):  # the second answer comes from the access cache
        r = script.post(f"/api/jobs/{job_id}/predict", headers=auth, files={"file": (unseen.name, unseen.read_bytes())})
        assert r.status_code == 200
    carol.delete(f"/api/tokens/{token['id']}")
    r = script.post(f"/api/jobs/{job_id}/predict", headers=auth, files={"file": (unseen.name, unseen.read_bytes())})
    assert r.status_code == 401  # revoking takes effect at once
    assert new_client(worker_app).post(f"/api/jobs/{job_id}/predict", files={"file": ("a.png", b"x")}).status_code == 401

    zipped = carol.get(f"/api/jobs/{job_id}/download")
    assert zipped.status_code == 200 and zipped.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(zipped.content)).namelist()
    assert {f"konstrukt-run-{job_id}/{n}" for n in ("model.safetensors", "report.json", "config.json")} <= set(names)
    bundle = export_bundle(carol, job_id, "onnx")  # stand-alone, parity-checked, built by an export job
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        top = f"konstrukt-{job_id}-onnx/"  # files sit in one top folder
        assert {top + n for n in ("model.onnx", "predict.py", "config.json", "README.md", "requirements.txt")} <= set(zf.namelist())
        assert json.loads(zf.read(top + "config.json"))["parity"]["results"]["onnx fp32"]["top1_agreement"] == 1.0
    assert carol.get(f"/api/jobs/{job_id}/export?format=tflite").status_code == 422
    assert carol.post(f"/api/jobs/{job_id}/exports", json={"format": "tflite"}).status_code == 422

    assert carol.client.get(f"/jobs/{job_id}").status_code == 200
    assert carol.client.get(f"/projects/{project['id']}/compare?jobs={job_id}").status_code == 200
    assert carol.delete(f"/api/jobs/{job_id}").status_code == 204
    assert carol.get(f"/api/jobs/{job_id}").status_code == 404


def test_bad_training_requests_are_422_before_queueing(carol, digits):
    project = carol.filled_project(digits, name="bad")
    url = f"/api/projects/{project['id']}/jobs"
    r = carol.post(url, json={"config": {"learning_rate": -1, "num_epochs": 0}})
    assert r.status_code == 422
    problems = " ".join(r.json()["problems"])
    assert "learning_rate" in problems and "num_epochs" in problems
    assert carol.post(url, json={"pipeline": "no_such_pipeline"}).status_code == 422
    assert carol.post(url, json={"config": {"head": [{"units": 0}]}}).status_code == 422
    lonely = carol.project("lonely", classes=("only",))
    carol.upload(lonely, "only", [(p.name, p.read_bytes()) for p in sorted((digits / "zero").iterdir())])
    r = carol.post(f"/api/projects/{lonely['id']}/jobs", json={"pipeline": "scratch_cnn"})
    assert r.status_code == 422 and "at least 2" in " ".join([r.json()["detail"], *r.json()["problems"]])
    assert carol.get(url).json() == []  # nothing was queued


def test_cancel_running_and_queued_jobs(carol, digits):
    project = carol.filled_project(digits, name="cancel")
    url = f"/api/projects/{project['id']}/jobs"
    first = carol.post(url, json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
    second = carol.post(url, json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
    wait_for(lambda: (job_status(carol, first).get("progress") or {}).get("epoch"))
    assert job_status(carol, second)["status"] == "queued"
    assert carol.post(f"/api/jobs/{second}/cancel").json()["status"] == "cancelled"
    assert carol.post(f"/api/jobs/{first}/cancel").json()["cancel_requested"] is True
    job = wait_for(lambda: finished(carol, first), timeout=30)
    assert job["status"] == "cancelled"


def test_killed_worker_fails_the_job_with_the_reason_and_comes_back(carol, digits, worker_app):
    project = carol.filled_project(digits, name="kill")
    url = f"/api/projects/{project['id']}/jobs"
    job_id = carol.post(url, json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
    wait_for(lambda: (job_status(carol, job_id).get("progress") or {}).get("epoch"))
    old_pid = worker_app.state.worker.pid
    os.kill(old_pid, signal.SIGKILL)

    job = wait_for(lambda: finished(carol, job_id), timeout=30)
    assert job["status"] == "failed" and "killed (signal 9)" in job["error"]
    assert carol.get(f"/api/projects/{project['id']}").json()["sample_count"] == 16
    # The worker is restarted and takes new jobs.
    wait_for(lambda: worker_app.state.worker.pid not in (None, old_pid), timeout=30)
    again = carol.post(url, json={"pipeline": "scratch_cnn", "config": FAST}).json()["id"]
    assert wait_for(lambda: finished(carol, again), timeout=120)["status"] == "succeeded"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _running_job(db, attempts: int) -> int:
    user = User(email=f"u{attempts}@x.y", password_hash="x")
    db.add(user)
    db.flush()
    project = Project(user_id=user.id, name="p", task="image")
    db.add(project)
    db.flush()
    job = Job(project_id=project.id, status="running", pipeline="auto", config={}, attempts=attempts,
              worker_pid=_dead_pid(), worker_host=__import__("socket").gethostname())
    db.add(job)
    db.commit()
    return job.id


def test_restart_requeues_then_fails_jobs_of_a_dead_worker(tmp_path):
    app = create_app(make_settings(tmp_path, max_attempts=2))
    with TestClient(app):
        with app.state.sessions() as db:
            retry, give_up = _running_job(db, attempts=1), _running_job(db, attempts=2)
    with TestClient(app):  # a server restart recovers them on startup
        with app.state.sessions() as db:
            assert db.get(Job, retry).status == "queued"
            failed = db.get(Job, give_up)
            assert failed.status == "failed" and "server restarted" in failed.error
            messages = [e.data["message"] for e in db.query(JobEvent).filter_by(job_id=retry)]
            assert any("queued again" in m for m in messages)
            assert recover_orphans(db, max_attempts=2, stale_after=10) == []  # nothing left running


def test_stopping_the_server_gives_a_running_job_back_to_the_queue(tmp_path, digits):
    app = create_app(make_settings(tmp_path, start_worker=True))
    with TestClient(app) as client:
        api = Api(client, "dan@example.com")
        project = api.filled_project(digits)
        job_id = api.post(f"/api/projects/{project['id']}/jobs",
                          json={"pipeline": "scratch_cnn", "config": LONG}).json()["id"]
        wait_for(lambda: (job_status(api, job_id).get("progress") or {}).get("epoch"))
    with app.state.sessions() as db:  # after shutdown (SIGTERM to the worker)
        job = db.get(Job, job_id)
        assert job.status == "queued" and job.attempts == 0 and job.worker_pid is None
