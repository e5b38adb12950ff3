"""Exports are jobs (issue 20, item 12): the request queues an export job and answers at once; the
worker builds the bundle with progress; the zip is kept per run and format and reused."""
from __future__ import annotations

import io
import shutil
import zipfile

import pytest
from service_helpers import FAST, Api, work_one_export

from konstrukt.service.db import Job
from konstrukt.service.jobs import claim_next
from konstrukt.service.storage import job_dir


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, digits):
    import konstrukt

    out = tmp_path_factory.mktemp("run") / "run"
    konstrukt.train(digits, task="image", out=out, pipeline="scratch_cnn", config=FAST, verbose=False)
    return out


@pytest.fixture
def trained(app, client, tiny_run):
    """Alice and a project whose job has succeeded (as the worker leaves it)."""
    alice = Api(client, "alice@example.com")
    project = alice.project(classes=())
    with app.state.sessions() as db:
        job = Job(project_id=project["id"], status="succeeded", pipeline="scratch_cnn", config={})
        db.add(job)
        db.commit()
        shutil.copytree(tiny_run, job_dir(app.state.settings.data_dir, project["id"], job.id) / "run")
        return alice, project["id"], job.id


def test_an_export_is_a_job_with_progress_and_its_zip_is_kept(app, trained):
    alice, pid, run_id = trained
    r = alice.post(f"/api/jobs/{run_id}/exports", json={"format": "bundle"})
    assert r.status_code == 202, r.text  # at once: nothing is built inside the request
    export = r.json()
    assert export["job"]["status"] == "queued" and export["download_url"] is None
    export_id = export["job"]["id"]
    got = alice.get(f"/api/jobs/{run_id}/export?format=bundle")
    assert got.status_code == 409 and f"POST /api/jobs/{run_id}/exports" in got.json()["detail"]
    again = alice.post(f"/api/jobs/{run_id}/exports", json={"format": "bundle"}).json()
    assert again["job"]["id"] == export_id  # a second click follows the same job
    with app.state.sessions() as db:
        assert claim_next(db, pid=4242) is None  # training workers do not take exports (nor wait on them)

    assert work_one_export(app) == export_id
    job = alice.get(f"/api/jobs/{export_id}").json()
    assert job["status"] == "succeeded", (job, _messages(app, export_id))
    events = _messages(app, export_id)
    assert any("parity" in m for m in events) and any("building" in m for m in events), events
    assert not any(str(app.state.settings.data_dir) in m for m in events)

    bundle = alice.get(f"/api/jobs/{run_id}/export?format=bundle")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()  # one top folder, named as the download
    assert {f"konstrukt-{run_id}-bundle/{n}" for n in ("predict.py", "config.json")} <= set(names)
    assert bundle.headers["content-disposition"].endswith('"konstrukt-%d-bundle.zip"' % run_id)
    done = alice.post(f"/api/jobs/{run_id}/exports", json={"format": "bundle"}).json()
    assert done["job"]["id"] == export_id and done["download_url"] == f"/api/jobs/{run_id}/export?format=bundle"
    assert work_one_export(app) is None  # cached: nothing queued again

    listed = alice.get(f"/api/projects/{pid}/jobs").json()
    assert [j["id"] for j in listed] == [run_id]  # exports are not training runs
    assert alice.get(f"/api/jobs/{export_id}/report").status_code == 404
    assert alice.delete(f"/api/jobs/{run_id}").status_code == 204
    assert alice.get(f"/api/jobs/{export_id}").status_code == 404  # its exports went with it


def _messages(app, job_id: int) -> list[str]:
    from konstrukt.service.db import JobEvent

    with app.state.sessions() as db:
        return [e.data.get("message", "") for e in db.query(JobEvent).filter_by(job_id=job_id).order_by(JobEvent.id)]


def test_export_requests_are_checked_and_owned(app, client, trained):
    alice, pid, run_id = trained
    assert alice.post(f"/api/jobs/{run_id}/exports", json={"format": "tflite"}).status_code == 422
    bob = Api(type(client)(app), "bob@example.com")
    assert bob.post(f"/api/jobs/{run_id}/exports", json={"format": "onnx"}).status_code == 404
    export_id = alice.post(f"/api/jobs/{run_id}/exports", json={"format": "onnx"}).json()["job"]["id"]
    assert alice.post(f"/api/jobs/{export_id}/exports", json={"format": "onnx"}).status_code == 409
    assert alice.post(f"/api/jobs/{export_id}/cancel").json()["status"] == "cancelled"
    paths = app.openapi()["paths"]
    assert "post" in paths["/api/jobs/{job_id}/exports"] and "get" in paths["/api/jobs/{job_id}/export"]
