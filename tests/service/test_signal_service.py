"""The signal task through the service: a project of task `signal`, CSV/NPY/NPZ uploads (bad rows
refused with the row named), a training job on the real worker, results, and Try it."""
from __future__ import annotations

import io

import numpy as np
import pytest
from service_helpers import Api, new_client, running_worker_app, wait_for_job


from tests.conftest import SIGNAL_FAST, write_signals


@pytest.fixture(scope="module")
def signal_app(tmp_path_factory):
    yield from running_worker_app(tmp_path_factory)


def _npy(x: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, x.astype(np.float32))
    return buf.getvalue()


def test_signal_project_uploads_trains_and_tries(signal_app, tmp_path):
    dave = Api(new_client(signal_app), "dave@example.com")
    task = {t["name"]: t for t in dave.get("/api/tasks").json()}["signal"]
    assert (task["capture"], task["preview"]) == ("motion", "file")  # phone and laptop sensors (motion.js)
    assert set(task["accept"].split(",")) == {".csv", ".npy", ".npz"}
    assert any(p["name"] == "rescnn_bilstm_se" for p in task["pipelines"])

    data = write_signals(tmp_path / "d", classes=("up", "down"), per_class=5)
    project = dave.project("Sensors", task="signal", classes=("up", "down"))
    for c in ("up", "down"):
        files = [(p.name, p.read_bytes()) for p in sorted((data / c).iterdir())]
        r = dave.upload(project, c, files)
        assert r.status_code == 200 and not r.json()["rejected"], r.text
    r = dave.upload(project, "up", [("ragged.csv", b"time,a,b,c\n0,1,2,3\n0.01,1\n"),
                                    ("nan.npy", _npy(np.array([[1.0, np.nan, 2.0, 3.0, 4.0]] * 3)))])
    errors = {x["file"]: x["error"] for x in r.json()["rejected"]}
    assert errors["ragged.csv"].startswith("row 3: 2 cells, expected 4 (ragged row)")
    assert errors["nan.npy"].startswith("channel 1, sample 2: NaN or infinite value")

    r = dave.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "rescnn_se", "config": SIGNAL_FAST})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    job = wait_for_job(dave, job_id, timeout=240)
    assert job["status"] == "succeeded", job
    report = dave.get(f"/api/jobs/{job_id}/report").json()
    assert report["task"] == "signal" and report["classes"] == ["down", "up"]

    probe = sorted((data / "up").iterdir())[0]
    r = dave.post(f"/api/jobs/{job_id}/predict", files={"file": (probe.name, probe.read_bytes())})
    assert r.status_code == 200 and r.json()["label"] in ("up", "down")
    r = dave.post(f"/api/jobs/{job_id}/predict", files={"file": ("two.npy", _npy(np.zeros((2, 50))))})
    assert r.status_code == 422 and "2 channels; the model was trained on 3" in r.text
