"""What a web user sees of a run never names the server's folders: the report (API and download)
names files relative to the job's data, and a job's error is worded for the web (issue 20, item 5)."""
from __future__ import annotations

import io
import json
import zipfile

from service_helpers import FAST

from konstrukt.service.db import Job


def _run(api, app, project: dict, pipeline: str, config: dict) -> dict:
    from konstrukt.service.worker import run_job

    r = api.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": pipeline, "config": config})
    assert r.status_code == 201, r.text
    run_job(app.state.sessions, app.state.settings, r.json()["id"])
    return api.get(f"/api/jobs/{r.json()['id']}").json()


def _export(api, app, job_id: int, fmt: str):
    """Build the ``fmt`` export of ``job_id`` as the export worker does, then download it."""
    from konstrukt.service.exports import run_export

    r = api.post(f"/api/jobs/{job_id}/exports", json={"format": fmt})
    assert r.status_code == 202, r.text
    run_export(app.state.sessions, app.state.settings, r.json()["job"]["id"])
    return api.get(f"/api/jobs/{job_id}/export?format={fmt}")


def test_reports_and_downloads_name_no_server_folder(alice, app, digits):
    project = alice.filled_project(digits)
    job = _run(alice, app, project, "scratch_cnn", FAST)
    assert job["status"] == "succeeded", job
    server = str(app.state.settings.data_dir)
    text = json.dumps(alice.get(f"/api/jobs/{job['id']}/report").json())
    assert server not in text and "/tmp/" not in text, "a server folder in the report"
    report = json.loads(text)
    assert report["data"]["source"] == "labels.csv"
    class_ids = {str(c["id"]) for c in project["classes"]}
    assert all(f.split("/")[0] in class_ids for split in report["data"]["files"].values() for f in split)
    with zipfile.ZipFile(io.BytesIO(alice.get(f"/api/jobs/{job['id']}/download").content)) as zf:
        names = zf.namelist()
        assert not [n for n in names if n.endswith("data_root.json")], names
        for name in names:
            if name.endswith((".json", ".md")):
                assert server not in zf.read(name).decode(), name
    bundle = _export(alice, app, job["id"], "onnx")  # parity still finds the test split
    assert bundle.status_code == 200, bundle.text
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        assert json.loads(zf.read(f"konstrukt-{job['id']}-onnx/config.json"))["parity"]["source"] == "test split"


def test_a_failed_jobs_message_is_worded_for_the_web_user(alice, app, digits):
    project = alice.filled_project(digits)
    job = _run(alice, app, project, "efficientnet_b0", {**FAST, "pretrained": "imagenet"})
    assert job["status"] == "failed", job
    with app.state.sessions() as db:
        error = db.get(Job, job["id"]).error
    assert "not available on this server" in error, error
    assert ".cache" not in error and "/" not in error.split("Fix:")[0] and "http" not in error, error
    assert "--pretrained" not in error, error
