"""Compare jobs against the real worker process: per-pipeline progress, leaderboard, picture,
recommendation, one run per pipeline, and bad requests refused before anything is queued."""
from __future__ import annotations

import json
import os
import sys

import pytest
from service_helpers import Api, new_client, wait_for, running_worker_app, wait_for_job


TINY = {"num_epochs": 1, "target_size": 0, "image_size": 16, "batch_size": 8, "cv": 2}


@pytest.fixture(scope="module")
def worker_app(tmp_path_factory):
    yield from running_worker_app(tmp_path_factory)


@pytest.fixture(scope="module")
def dora(worker_app):
    return Api(new_client(worker_app), "dora@example.com")


def events_until_done(api, job_id) -> list[tuple[str, dict]]:
    events, kind = [], None
    with api.client.stream("GET", f"/api/jobs/{job_id}/events") as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
    return events


def test_compare_job_leaderboard_recommendation_and_winning_run(worker_app, dora, digits):
    project = dora.filled_project(digits)
    r = dora.post(f"/api/projects/{project['id']}/compare",
                  json={"pipelines": ["scratch_cnn", "scratch_cnn:mlp", "efficientnet_b0"], "config": TINY})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["pipeline"] == "compare" and job["config"]["pipelines"] == ["scratch_cnn", "scratch_cnn:mlp",
                                                                           "efficientnet_b0"]
    events = events_until_done(dora, job["id"])
    assert events[-1] == ("status", {"status": "succeeded"}), events[-5:]
    per_pipeline = {(e["pipeline"], e["index"], e["total"]) for _, e in events if e.get("stage") == "compare"}
    assert per_pipeline == {("scratch_cnn", 1, 3), ("scratch_cnn:mlp", 2, 3)}  # b0 was skipped offline

    leaderboard = dora.get(f"/api/jobs/{job['id']}/leaderboard")
    for text in (leaderboard.text, json.dumps(events)):  # no server folder reaches the browser
        for root in (worker_app.state.settings.data_dir, "/tmp", "/dev/shm"):
            assert str(root) not in text, text
    board = leaderboard.json()
    rows = {r["name"]: r for r in board["rows"]}
    assert rows["efficientnet_b0"]["status"] == "skipped" and "weights" in rows["efficientnet_b0"]["reason"]
    # a web user reads the service's words (no CLI flags) and a short line for the table (#21 item 7)
    assert "--" not in rows["efficientnet_b0"]["reason"] and "auto" in rows["efficientnet_b0"]["reason"]
    assert rows["efficientnet_b0"]["brief"] == "pretrained weights not available here"
    assert rows["reference: hog_logreg"]["kind"] == "reference" and rows["reference: hog_logreg"]["job_id"] is None
    rec = board["recommendation"]
    assert rec["name"] in ("scratch_cnn", "scratch_cnn:mlp") and rec["job_id"] == rows[rec["name"]]["job_id"]
    picture = dora.get(f"/api/jobs/{job['id']}/files/leaderboard.png")
    assert picture.status_code == 200 and picture.content[:4] == b"\x89PNG"

    # each compared pipeline is a normal run: report, Try it, download; the winner opens in one click
    winner = dora.get(f"/api/jobs/{rec['job_id']}").json()
    assert winner["status"] == "succeeded" and winner["summary"]["pipeline"] == rec["name"]
    report = dora.get(f"/api/jobs/{rec['job_id']}/report").json()
    assert report["cv"]["folds_fingerprint"] == board["folds_fingerprint"]
    unseen = sorted((digits.parent / "digits_new" / "one").iterdir())[0]
    got = dora.post(f"/api/jobs/{rec['job_id']}/predict", files={"file": (unseen.name, unseen.read_bytes())})
    assert got.status_code == 200 and got.json()["label"] in ("zero", "one")
    mlp = dora.get(f"/api/jobs/{rows['scratch_cnn:mlp']['job_id']}").json()
    assert mlp["config"]["head"] == "mlp" and mlp["summary"]["compare_job"] == job["id"]
    page = dora.client.get(f"/projects/{project['id']}/compare?compare={job['id']}")
    assert page.status_code == 200 and 'id="leaderboard"' in page.text
    assert dora.get(f"/api/jobs/{rec['job_id']}/leaderboard").status_code == 404  # a training job


def test_bad_compare_requests_are_refused_before_queueing(dora, digits):
    project = dora.filled_project(digits, name="bad")
    url = f"/api/projects/{project['id']}/compare"
    r = dora.post(url, json={"pipelines": ["nope", "scratch_melcnn"]})
    assert r.status_code == 422
    problems = " ".join(r.json()["problems"])
    assert "unknown pipeline 'nope'" in problems and "does not work on task 'image'" in problems
    assert "scratch_cnn" in problems  # the valid names are listed
    r = dora.post(url, json={"pipelines": ["efficientnet_b0", "resnet18"]})  # no weights offline
    assert r.status_code == 422 and "no pipeline can run" in r.json()["detail"]
    assert dora.post(url, json={"pipelines": ["scratch_cnn"], "config": {"cv": 1}}).status_code == 422
    assert dora.post(url, json={"pipelines": "everything"}).status_code == 422
    assert dora.get(f"/api/projects/{project['id']}/jobs").json() == []


def test_cancelling_a_compare_job_stops_every_pipeline(dora, digits):
    project = dora.filled_project(digits, name="cancel")
    long = {**TINY, "num_epochs": 1000, "early_stopping": False}
    job_id = dora.post(f"/api/projects/{project['id']}/compare",
                       json={"pipelines": ["scratch_cnn", "scratch_cnn:mlp"], "config": long}).json()["id"]
    wait_for(lambda: (dora.get(f"/api/jobs/{job_id}").json().get("progress") or {}).get("epoch"))
    assert dora.post(f"/api/jobs/{job_id}/cancel").json()["cancel_requested"] is True
    job = wait_for_job(dora, job_id, timeout=30)
    assert job["status"] == "cancelled"  # not recorded as one failed pipeline while the next one starts
    assert [j["id"] for j in dora.get(f"/api/projects/{project['id']}/jobs").json()] == [job_id]


def _descendants(pid: int) -> set[int]:
    """Every living process under ``pid`` (Linux /proc)."""
    from pathlib import Path

    parent_of = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            if fields.get("State", "").startswith("Z"):
                continue  # a zombie is gone, only not yet reaped
            parent_of[int(status.parent.name)] = int(fields["PPid"])
        except (OSError, ValueError, KeyError):
            continue
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parent_of.items() if pp == p}
        todo += list(kids - found)
        found |= kids
    return found


FROZEN = {**TINY, "pretrained": "none", "target_size": 4}


@pytest.mark.skipif(not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
                    reason="heads side by side: Linux, 2 cores")
def test_heads_of_a_compare_job_train_side_by_side_and_a_cancel_stops_them(dora, digits):
    project = dora.filled_project(digits, name="frozen")
    url = f"/api/projects/{project['id']}/compare"
    job = dora.post(url, json={"pipelines": ["efficientnet_b0", "efficientnet_b0:mlp"], "config": FROZEN}).json()
    events = events_until_done(dora, job["id"])
    assert events[-1] == ("status", {"status": "succeeded"}), events[-5:]
    assert any(e.get("parallel") == 2 for _, e in events), "the worker trained the heads side by side"
    assert {e["pipeline"] for _, e in events if e.get("stage") == "cv"} == {"efficientnet_b0", "efficientnet_b0:mlp"}
    board = dora.get(f"/api/jobs/{job['id']}/leaderboard").json()
    assert all(r["status"] == "ok" for r in board["rows"])

    before = _descendants(os.getpid())
    long = {**FROZEN, "num_epochs": 10000, "early_stopping": False}
    job_id = dora.post(url, json={"pipelines": ["efficientnet_b0", "efficientnet_b0:mlp"], "config": long}).json()["id"]
    wait_for(lambda: (dora.get(f"/api/jobs/{job_id}").json().get("progress") or {}).get("epoch"))
    assert len(_descendants(os.getpid()) - before) == 2  # the two pipelines' processes
    dora.post(f"/api/jobs/{job_id}/cancel")
    job = wait_for_job(dora, job_id, timeout=30)
    assert job["status"] == "cancelled"
    wait_for(lambda: not (_descendants(os.getpid()) - before), timeout=10)  # no child left training
