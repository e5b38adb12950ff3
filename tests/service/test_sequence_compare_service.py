"""Compare in a sequence project (issue 23): the web service queues the model ladder (or named
variants) on the same split and folds, the real worker trains it with the library's
compare_sequences, each variant becomes a run of its own, the leaderboard is CER and the
recommendation is the core's rule (CV CER; never the test split) — also for runs picked by hand."""
from __future__ import annotations

from service_helpers import Api, new_client, running_worker_app, wait_for_job

import pytest
from test_sequence_projects import _data_zip, _project, _send

TINY = {"num_epochs": 2, "batch_size": 4, "cv": 2, "widths": [16], "hidden_size": 16, "layers": 1}


@pytest.fixture(scope="module")
def seq_app(tmp_path_factory):
    yield from running_worker_app(tmp_path_factory)


def test_a_sequence_compare_trains_each_variant_and_recommends_by_cer(seq_app, tmp_path):
    eve = Api(new_client(seq_app), "eve-compare@example.com")
    pid = _project(eve)["id"]
    assert _send(eve, pid, [("keys.zip", _data_zip(tmp_path, n=12))]).json()["rejected"] == []
    r = eve.post(f"/api/projects/{pid}/compare", json={"pipelines": ["rescnn", "nope"], "config": TINY})
    assert r.status_code == 422 and "nope" in r.text, r.text
    r = eve.post(f"/api/projects/{pid}/compare", json={"pipelines": ["rescnn"], "config": {**TINY, "widths": "x"}})
    assert r.status_code == 422 and "widths" in r.text

    r = eve.post(f"/api/projects/{pid}/compare", json={"pipelines": ["rescnn", "rescnn+mlp480"], "config": TINY})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    job = wait_for_job(eve, job_id, timeout=240)
    assert job["status"] == "succeeded", job
    board = eve.get(f"/api/jobs/{job_id}/leaderboard").json()
    assert board["kind"] == "sequence" and board["folds"] == 2
    assert [row["name"] for row in board["rows"]] == ["rescnn", "rescnn+mlp480"]
    assert all(row["job_id"] and row["cv_cer_mean"] is not None and "run" not in row for row in board["rows"])
    rec = board["recommendation"]
    assert rec["name"] in ("rescnn", "rescnn+mlp480") and "cross-validation CER" in rec["reason"]
    best = min(board["rows"], key=lambda row: (row["cv_cer_mean"], row["params"]))
    assert rec["job_id"] == best["job_id"]
    assert "/tmp" not in str(board)

    # each variant is a run of its own: listed, with its CER, Try it and export as any run
    runs = {j["id"]: j for j in eve.get(f"/api/projects/{pid}/jobs").json()}
    children = [row["job_id"] for row in board["rows"]]
    assert all(runs[c]["summary"]["cv_cer_mean"] is not None for c in children)
    assert eve.get(f"/api/jobs/{children[0]}/report").json()["kind"] == "sequence"
    assert eve.get(f"/api/jobs/{job_id}/files/leaderboard.png").status_code == 200
    # runs compared by hand: the same rule
    pick = eve.get(f"/api/projects/{pid}/recommendation?jobs={children[0]},{children[1]}").json()
    assert pick["job_id"] == rec["job_id"] and "CER" in pick["reason"]
