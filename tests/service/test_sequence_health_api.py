"""Data health of a sequence project through the service (issue 23): the core's sequence checks on
the stored recordings, with the counts (`stats`) and each finding's recordings named by sample id
and uploaded name — never a server path; the frame rate is that of the project's settings."""
from __future__ import annotations

import io

import numpy as np
from test_sequence_projects import _data_zip, _npz, _project, _send

from konstrukt.service.db import Job
from tests.sequence_data import RATE, recording


def _crammed() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, data=recording("ab", np.random.default_rng(1))[:, :45], fs=RATE)
    return buf.getvalue()


def test_project_health_counts_and_names_recordings(alice, app, tmp_path):
    pid = _project(alice)["id"]
    with app.state.sessions() as db:  # the default front end: its frame rate is 50 Hz / 4
        db.add(Job(project_id=pid, status="failed", pipeline="rescnn", config={"frontend": "default"}))
        db.commit()
    h = alice.get(f"/api/projects/{pid}/health").json()
    assert h["checked"] == 0 and h["ok"]
    assert _send(alice, pid, [("keys.zip", _data_zip(tmp_path, n=8))]).json()["rejected"] == []
    r = _send(alice, pid, [("crammed.npz", _crammed())], text="abababababababab")
    assert r.status_code == 200, r.text
    crammed_id = r.json()["added"][0]["id"]
    _send(alice, pid, [("again.npz", _npz("abba", seed=21))], text="abba")
    _send(alice, pid, [("again2.npz", _npz("abba", seed=22))], text="abba")

    h = alice.get(f"/api/projects/{pid}/health")
    assert h.status_code == 200, h.text
    h = h.json()
    st = h["stats"]
    assert st["recordings"] == 11 and st["channels"] == 2 and st["output_frames_per_second"] == 12.5
    assert st["text_length"]["max"] == 16 and set(st["alphabet"]) == set("abcd")
    found = {f["kind"]: f for f in h["findings"]}
    sample = found["text_too_long"]["samples"][0]
    assert sample["sample_id"] == crammed_id and sample["filename"] == "crammed.npz" and "needs 16 frames" in sample["value"]
    assert {s["filename"] for s in found["duplicate_text"]["samples"]} >= {"again.npz", "again2.npz"}
    assert str(app.state.settings.data_dir) not in str(h) and "/tmp" not in str(h)

    # the project's latest training settings decide the model: one CNN block doubles the frame rate
    with app.state.sessions() as db:
        db.add(Job(project_id=pid, status="failed", pipeline="rescnn", config={"widths": [16], "frontend": "default"}))
        db.commit()
    h = alice.get(f"/api/projects/{pid}/health").json()
    assert h["stats"]["output_frames_per_second"] == 25.0
    assert "text_too_long" not in h["counts"]
