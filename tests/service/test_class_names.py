"""Class names are data: they never decide how a job's files are read, never become folder names,
and obey the core's one label rule (issue 20, items 6 and 11)."""
from __future__ import annotations

import json

from service_helpers import FAST

from konstrukt.data.labels import MAX_LABEL_BYTES
from konstrukt.service.db import Job


def _train_now(api, app, project: dict) -> dict:
    """Queue a job and run it in this process, as the worker would; return the job."""
    from konstrukt.service.worker import run_job

    r = api.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn", "config": FAST})
    assert r.status_code == 201, r.text
    run_job(app.state.sessions, app.state.settings, r.json()["id"])
    return api.get(f"/api/jobs/{r.json()['id']}").json()


def _fill(api, project: dict, digits, names: dict[str, str]) -> None:
    for name, folder in names.items():
        files = [(p.name, p.read_bytes()) for p in sorted((digits / folder).iterdir())]
        r = api.upload(project, name, files)
        assert r.status_code == 200 and not r.json()["rejected"], r.text


def test_classes_named_train_and_test_are_classes_not_splits(alice, app, digits):
    project = alice.project(classes=("train", "test"))
    _fill(alice, project, digits, {"train": "zero", "test": "one"})
    job = _train_now(alice, app, project)
    assert job["status"] == "succeeded", job
    report = alice.get(f"/api/jobs/{job['id']}/report").json()
    assert report["classes"] == ["test", "train"] and report["data"]["presplit"] is False
    assert report["data"]["per_class"] == {"test": 8, "train": 8}


def test_class_names_are_limited_in_bytes_and_never_become_folder_names(alice, app, digits):
    project = alice.project(classes=())
    url = f"/api/projects/{project['id']}/classes"
    too_long = "\U0001F600" * 100  # 100 characters, 400 bytes: longer than a file name may be
    r = alice.post(url, json={"name": too_long})
    assert r.status_code == 422 and f"{MAX_LABEL_BYTES} bytes" in json.dumps(r.json()), r.text
    assert alice.post(url, json={"name": "tab\tname"}).status_code == 422
    longest = "\U0001F600" * (MAX_LABEL_BYTES // 4)  # exactly the limit: accepted, and it trains
    for name in (longest, "plain"):
        assert alice.post(url, json={"name": name}).status_code == 201
    cid = next(c["id"] for c in alice.get(f"/api/projects/{project['id']}").json()["classes"] if c["name"] == "plain")
    assert alice.patch(f"{url}/{cid}", json={"name": too_long}).status_code == 422
    project = alice.get(f"/api/projects/{project['id']}").json()
    _fill(alice, project, digits, {longest: "zero", "plain": "one"})
    job = _train_now(alice, app, project)
    assert job["status"] == "succeeded", job
    assert alice.get(f"/api/jobs/{job['id']}/report").json()["classes"] == sorted([longest, "plain"])
    with app.state.sessions() as db:  # the job's folder is named by class ids
        data = app.state.settings.data_dir / "projects" / str(project["id"]) / "jobs" / str(job["id"]) / "data"
        assert sorted(p.name for p in data.iterdir() if p.is_dir()) == sorted(str(c["id"]) for c in project["classes"])
        assert db.get(Job, job["id"]).status == "succeeded"


def test_unbounded_training_settings_are_a_422_naming_the_key_and_the_limit(alice, digits, monkeypatch):
    import konstrukt.config

    project = alice.filled_project(digits)
    url = f"/api/projects/{project['id']}/jobs"
    for config, key, limit in (({"target_size": 3_000_000}, "target_size", "10000"),
                               ({"seed": 10**30}, "seed", str(2**32)), ({"seed": -5}, "seed", "0")):
        r = alice.post(url, json={"pipeline": "scratch_cnn", "config": {**FAST, **config}})
        text = json.dumps(r.json())
        assert r.status_code == 422 and key in text and limit in text, r.text
    monkeypatch.setattr(konstrukt.config, "MAX_TRAIN_ITEMS", 100)  # 2 classes × 60 + 16 examples
    for url, body in ((url, {"pipeline": "scratch_cnn", "config": {**FAST, "target_size": 60}}),
                      (f"/api/projects/{project['id']}/compare",
                       {"pipelines": ["scratch_cnn"], "config": {**FAST, "target_size": 60, "cv": 2}})):
        r = alice.post(url, json=body)
        assert r.status_code == 422 and "the limit is 100 per job" in r.text, r.text
    assert alice.get(f"/api/projects/{project['id']}/jobs").json() == []  # nothing was queued
