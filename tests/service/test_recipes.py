"""The recipe list says what can train on this server; `auto` is always one that can."""
from __future__ import annotations

import json

import torch

from konstrukt.models.backbones import BACKBONES
from konstrukt.models.weights import hub_checkpoint_dir
from konstrukt.service.outcome import service_message
from konstrukt.errors import WeightsUnavailableError


def test_pipelines_say_whether_they_can_train_here(alice):
    tasks = {t["name"]: t for t in alice.get("/api/tasks").json()}
    image = {p["name"]: p for p in tasks["image"]["pipelines"]}
    b0 = image["efficientnet_b0"]
    assert not b0["available"] and "not on this machine" in b0["reason"] and "downloads are off" in b0["reason"]
    assert image["scratch_cnn"]["available"] and image["scratch_cnn"]["reason"] is None
    recommended = [p for p in image.values() if p["recommended"]]
    assert len(recommended) == 1 and recommended[0]["available"]  # auto never starts from missing weights
    assert not b0["recommended"] and "efficientnet_b0" in tasks["image"]["auto"]  # says what it passed over
    for task in tasks.values():  # every task: what auto starts from can train here
        assert all(p["available"] for p in task["pipelines"] if p["recommended"]), task["name"]


def test_cached_weights_make_the_recommended_pipeline_available(alice):
    import torchvision

    url = BACKBONES.get("efficientnet_b0").weights["imagenet"].url
    hub_checkpoint_dir().mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.efficientnet_b0().state_dict(), hub_checkpoint_dir() / url.rsplit("/", 1)[-1])
    image = {p["name"]: p for p in {t["name"]: t for t in alice.get("/api/tasks").json()}["image"]["pipelines"]}
    assert image["efficientnet_b0"]["available"] and image["efficientnet_b0"]["recommended"]


def test_missing_weights_are_explained_in_the_web_apps_terms():
    exc = WeightsUnavailableError("pretrained weights for x are not cached at /root/.cache/torch/x.pth",
                                  ["Fix: pass a local file with `--pretrained PATH`"], weights="efficientnet_b0.imagenet")
    text = service_message(exc)
    assert "efficientnet_b0.imagenet" in text and "“auto”" in text
    assert "--pretrained" not in text and "/root" not in text


def test_compare_selected_asks_the_core_which_run_to_recommend(alice, app):
    from konstrukt.service.db import Job
    from konstrukt.service.routes.jobs import run_dir

    pid = alice.project(classes=())["id"]
    reports = {1: {"cv": {"per_fold": [{"accuracy": a} for a in (0.6, 0.7, 0.65)]}, "params_total": 10},
               2: {"cv": {"per_fold": [{"accuracy": a} for a in (0.9, 0.95, 0.92)]}, "params_total": 10},
               3: {"cv": None, "test": {"accuracy": 1.0}, "params_total": 10}}
    ids = {}
    with app.state.sessions() as db:
        for key, report in reports.items():
            job = Job(project_id=pid, status="succeeded", pipeline="scratch_cnn", config={})
            db.add(job)
            db.commit()
            folder = run_dir(app.state.settings, job)
            folder.mkdir(parents=True)
            (folder / "report.json").write_text(json.dumps(report))
            ids[key] = job.id
    got = alice.get(f"/api/projects/{pid}/recommendation?jobs={ids[1]},{ids[2]},{ids[3]}").json()
    assert got["job_id"] == ids[2]  # best in CV; the test-only run is not ranked, and says so
    assert f"run #{ids[3]}: no cross-validation" in got["reason"]
    assert alice.get(f"/api/projects/{pid}/recommendation?jobs=x").status_code == 422
