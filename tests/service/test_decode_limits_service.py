"""Small uploads that decode to a lot (issue 20, item 3), through the service: refused with the
uploaded file's name and the limit, on upload and in Try it, and what was stored stays intact."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from service_helpers import FAST, Api

from konstrukt.preprocess.limits import using_decode_limits
from konstrukt.service.db import Job
from konstrukt.service.storage import job_dir
from tests.conftest import SIGNAL_FAST, write_signals
from tests.hostile_files import csv_table, npz_of_zeros, png16


def _stored(api: Api, project_id: int) -> list[tuple[int, bytes]]:
    project = api.get(f"/api/projects/{project_id}").json()
    return sorted((s["id"], api.get(f"/api/samples/{s['id']}/file").content)
                  for c in project["classes"] for s in c["samples"])


def _refused(response, name: str) -> str:
    body = response.json()
    assert response.status_code == 200 and not body["added"], response.text
    (rejected,) = body["rejected"]
    assert rejected["file"] == name
    assert "/tmp" not in rejected["error"] and "/dev/shm" not in rejected["error"]
    return rejected["error"]


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    return png16(7500, 7000)  # 52.5 megapixels of 16-bit zeros in ~100 kB


def test_a_tiny_png_of_huge_dimensions_is_refused_on_upload(alice, digits, huge_png):
    project = alice.filled_project(digits)
    before = _stored(alice, project["id"])
    error = _refused(alice.upload(project, "zero", [("huge.png", huge_png)]), "huge.png")
    assert "7500 × 7000 pixels" in error and "limit of 50 megapixels (`max_image_pixels`)" in error
    assert "Fix: resize the image" in error
    assert _stored(alice, project["id"]) == before


def test_an_npz_of_zeros_and_a_long_csv_are_refused_in_a_signal_project(alice, tmp_path):
    data = write_signals(tmp_path / "d", classes=("up",), per_class=2)
    project = alice.project("S", task="signal", classes=("up",))
    files = [(p.name, p.read_bytes()) for p in sorted((data / "up").iterdir())]
    assert not alice.upload(project, "up", files).json()["rejected"]
    before = _stored(alice, project["id"])

    error = _refused(alice.upload(project, "up", [("zeros.npz", npz_of_zeros((4000, 6250)))]), "zeros.npz")
    assert "a 4000 × 6250 array of float64 (25,000,000 values)" in error
    assert "over the limit of 20,000,000 values (`max_signal_values`)" in error and "Fix:" in error

    with using_decode_limits(max_signal_values=10_000):
        error = _refused(alice.upload(project, "up", [("long.csv", csv_table(5000, 4))]), "long.csv")
    assert "5,000 rows × 4 columns" in error and "limit of 10,000 values" in error
    assert _stored(alice, project["id"]) == before


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits) -> dict[str, Path]:
    """A tiny trained image run and a tiny trained signal run."""
    import konstrukt

    out = {}
    image_run = tmp_path_factory.mktemp("run") / "image"
    konstrukt.train(digits, task="image", out=image_run, pipeline="scratch_cnn", config=FAST, verbose=False)
    out["image"] = image_run
    signals = write_signals(tmp_path_factory.mktemp("signals"), classes=("up", "down"), per_class=4)
    signal_run = tmp_path_factory.mktemp("run") / "signal"
    konstrukt.train(signals, task="signal", out=signal_run, pipeline="rescnn_se", config=SIGNAL_FAST,
                    verbose=False)
    out["signal"] = signal_run
    return out


def _trained_job(app, api: Api, run: Path, task: str) -> int:
    """A job that has succeeded with ``run`` (as the worker would leave it)."""
    project = api.project(task=task, classes=())
    with app.state.sessions() as db:
        job = Job(project_id=project["id"], status="succeeded", pipeline="scratch_cnn", config={})
        db.add(job)
        db.commit()
        shutil.copytree(run, job_dir(app.state.settings.data_dir, project["id"], job.id) / "run")
        return job.id


def test_try_it_refuses_them_by_the_uploaded_name(app, alice, runs, huge_png):
    job = _trained_job(app, alice, runs["image"], "image")
    r = alice.post(f"/api/jobs/{job}/predict", files={"file": ("huge.png", huge_png)})
    assert r.status_code == 422 and "huge.png: 7500 × 7000 pixels" in r.text
    assert "max_image_pixels" in r.text and "/tmp" not in r.text and "/dev/shm" not in r.text

    job = _trained_job(app, alice, runs["signal"], "signal")
    r = alice.post(f"/api/jobs/{job}/predict", files={"file": ("zeros.npz", npz_of_zeros((4000, 6250)))})
    assert r.status_code == 422 and "zeros.npz: member 'data.npy'" in r.text and "max_signal_values" in r.text
    assert "tmp" not in r.text  # not the staged copy's name (tmpXXXX.npz)
