"""A sequence run exports from the web service as any run does (issue 23): the request queues an
export job, the worker builds the library's sequence bundle (ONNX, INT8, PyTorch; parity of the
decoded text), the zip is kept and reused. The web page, which sequence runs have not, is refused
at once with the formats that exist."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
from service_helpers import Api, work_one_export
from test_sequence_projects import _project

from konstrukt.service.db import Job
from konstrukt.service.storage import job_dir
from tests.sequence_data import write_sequences

TINY = {"num_epochs": 2, "batch_size": 4, "cv": 0, "widths": [16], "hidden_size": 16, "layers": 1,
        "pipeline": "rescnn"}


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory):
    import konstrukt

    root = tmp_path_factory.mktemp("seqrun")
    csv_path = write_sequences(root / "data", n=16, seed=3)
    out = root / "run"
    run = konstrukt.train(csv_path, out=out, config=TINY, verbose=False)
    return out, [p for p in run.report["data_files"]["test"]]


@pytest.fixture
def trained(app, client, seq_run):
    """Eve, a sequence project and its succeeded run (as the worker leaves it)."""
    eve = Api(client, "eve-export@example.com")
    pid = _project(eve)["id"]
    with app.state.sessions() as db:
        job = Job(project_id=pid, status="succeeded", pipeline="rescnn", config=TINY)
        db.add(job)
        db.commit()
        shutil.copytree(seq_run[0], job_dir(app.state.settings.data_dir, pid, job.id) / "run")
        return eve, pid, job.id


def test_a_sequence_run_exports_to_onnx_with_a_decoding_predict_py(app, trained, seq_run, tmp_path):
    eve, pid, run_id = trained
    r = eve.post(f"/api/jobs/{run_id}/exports", json={"format": "onnx"})
    assert r.status_code == 202, r.text
    export_id = r.json()["job"]["id"]
    assert work_one_export(app, pid=4343) == export_id
    job = eve.get(f"/api/jobs/{export_id}").json()
    assert job["status"] == "succeeded", job
    assert job["summary"]["format"] == "onnx"

    got = eve.get(f"/api/jobs/{run_id}/export?format=onnx")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    top = f"konstrukt-{run_id}-onnx"
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        assert {f"{top}/{n}" for n in ("predict.py", "model.onnx", "config.json", "README.md")} <= set(zf.namelist())
        zf.extractall(tmp_path)
    cfg = json.loads((tmp_path / top / "config.json").read_text(encoding="utf-8"))
    assert cfg["kind"] == "sequence" and cfg["parity"]["source"] == "test split"
    assert all(r["all_identical"] for r in cfg["parity"]["results"].values())
    assert str(app.state.settings.data_dir) not in got.content.decode("latin-1")  # no server folder inside

    # the downloaded predict.py prints the text konstrukt decodes (no konstrukt import needed)
    import konstrukt

    test_file = seq_run[1][0]
    want = konstrukt.load_run(seq_run[0]).predict([test_file])[0]["text"]
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "predict.py", test_file, "--json"], cwd=tmp_path / top,
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["text"] == want

    again = eve.post(f"/api/jobs/{run_id}/exports", json={"format": "onnx"}).json()
    assert again["job"]["id"] == export_id and again["download_url"].endswith("format=onnx")
    assert work_one_export(app, pid=4343) is None  # the kept zip is reused
    report = eve.get(f"/api/jobs/{run_id}/report").json()
    assert report["kind"] == "sequence" and "data_files" not in report  # no server folder in the page's report


def test_the_web_page_export_is_refused_for_sequence_runs_only(app, trained):
    eve, pid, run_id = trained
    r = eve.post(f"/api/jobs/{run_id}/exports", json={"format": "web"})
    assert r.status_code == 422, r.text
    said = json.dumps(r.json())
    assert "no web page for sequence runs" in said and "onnx" in said and "bundle" in said
    assert work_one_export(app, pid=4343) is None  # nothing was queued
    assert eve.post(f"/api/jobs/{run_id}/exports", json={"format": "tflite"}).status_code == 422
