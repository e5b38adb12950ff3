"""Data health over the REST API: the project's panel before training, a run's after, and the
one-click actions (delete, move to class) it offers — each a plain API call."""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from service_helpers import FAST

from konstrukt.service.db import Job
from konstrukt.service.storage import class_dir


def _png(path: Path, scale: float = 1.0) -> bytes:
    img = Image.open(path)  # same colour mode as the others: only the size differs
    if scale != 1.0:
        img = img.resize((int(img.width * scale), int(img.height * scale)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_project_health_finds_conflict_and_actions_fix_it(alice, bob, digits, app):
    project = alice.filled_project(digits)
    pid = project["id"]
    clean = alice.get(f"/api/projects/{pid}/health")
    assert clean.status_code == 200, clean.text
    assert clean.json()["checked"] == 16 and clean.json()["findings"] == []

    zero = sorted((digits / "zero").iterdir())[0]
    r = alice.upload(project, "one", [("looks_like_zero.png", _png(zero, 1.25))])  # a near copy, other class
    moved_id = r.json()["added"][0]["id"]
    health = alice.get(f"/api/projects/{pid}/health").json()
    (conflict,) = [f for f in health["findings"] if f["kind"] == "label_conflict"]
    names = {s["name"] for s in conflict["samples"]}
    assert names == {f"zero/{zero.name}", "one/looks_like_zero.png"}
    assert all(s["sample_id"] and "/" not in s["filename"] for s in conflict["samples"])
    assert str(app.state.settings.data_dir) not in str(health)  # no server paths

    # One click: move it to `zero` — now a duplicate within the class, no longer a conflict.
    zero_id = next(c["id"] for c in project["classes"] if c["name"] == "zero")
    r = alice.patch(f"/api/samples/{moved_id}", json={"class_id": zero_id})
    assert r.status_code == 200 and r.json()["class_id"] == zero_id
    folder = class_dir(app.state.settings.data_dir, pid, zero_id)
    assert (folder / f"{moved_id}.png").is_file()
    assert alice.get(f"/api/samples/{moved_id}/file").content[:4] == b"\x89PNG"
    kinds = [f["kind"] for f in alice.get(f"/api/projects/{pid}/health").json()["findings"]]
    assert kinds == ["near_duplicate"]
    # Another click: delete the copy — clean again.
    assert alice.delete(f"/api/samples/{moved_id}").status_code == 204
    assert alice.get(f"/api/projects/{pid}/health").json()["findings"] == []

    # Bad or foreign input.
    other = alice.project("Other")
    sid = alice.get(f"/api/projects/{pid}").json()["classes"][0]["samples"][0]["id"]
    assert alice.patch(f"/api/samples/{sid}", json={"class_id": other["classes"][0]["id"]}).status_code == 404
    assert alice.patch(f"/api/samples/{sid}", json={"class_id": "x"}).status_code == 422
    assert alice.patch(f"/api/samples/{sid}", content="class_id=1",
                       headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415
    assert bob.get(f"/api/projects/{pid}/health").status_code == 404
    assert bob.patch(f"/api/samples/{sid}", json={"class_id": zero_id}).status_code == 404


def test_run_health_maps_files_to_samples(alice, digits, app):
    from konstrukt.service.worker import run_job

    project = alice.filled_project(digits)
    one = sorted((digits / "one").iterdir())[0]
    # Uploading a copy into `one` itself is refused (idempotent uploads), but a copy filed under
    # `zero` is stored, and moving it to `one` makes an exact copy within `one` for the check to find.
    assert alice.upload(project, "one", [("again.png", one.read_bytes())]).json()["rejected"]
    stored = alice.upload(project, "zero", [("again.png", one.read_bytes())])
    assert stored.status_code == 200 and not stored.json()["rejected"], stored.text
    one_id = next(c["id"] for c in project["classes"] if c["name"] == "one")
    moved = alice.patch(f"/api/samples/{stored.json()['added'][0]['id']}", json={"class_id": one_id})
    assert moved.status_code == 200, moved.text
    job = alice.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn", "config": FAST})
    assert job.status_code == 201, job.text
    assert alice.get(f"/api/jobs/{job.json()['id']}/health").status_code == 409  # not trained yet
    run_job(app.state.sessions, app.state.settings, job.json()["id"])  # what the worker does, in-process
    with app.state.sessions() as db:
        assert db.get(Job, job.json()["id"]).status == "succeeded"
    health = alice.get(f"/api/jobs/{job.json()['id']}/health")
    assert health.status_code == 200, health.text
    body = health.json()
    dup = next(f for f in body["findings"] if f["kind"] == "exact_duplicate")
    assert {s["filename"] for s in dup["samples"]} == {one.name, "again.png"}
    assert all(isinstance(s["sample_id"], int) for s in dup["samples"])
    assert any(f["kind"] == "add_next" for f in body["findings"])
    assert str(app.state.settings.data_dir) not in str(body)


def _csv(x, rate: float = 200.0) -> bytes:
    import numpy as np

    t = np.arange(x.shape[1]) / rate
    buf = io.StringIO()
    np.savetxt(buf, np.column_stack([t, x.T]), delimiter=",", fmt="%.6g",
               header=",".join(["time"] + [f"ch{c + 1}" for c in range(x.shape[0])]), comments="")
    return buf.getvalue().encode()


def test_signal_project_health_finds_copies_and_stuck_channels(alice, app, monkeypatch):
    import numpy as np

    from konstrukt.demo_signal import synth_gesture
    from konstrukt.service import health as service_health

    rng = np.random.default_rng(0)
    project = alice.project("Armband", task="signal", classes=("fist", "wave"))
    takes = {g: [synth_gesture(g, s, rng) for s in range(8)] for g in ("fist", "wave")}
    for g, xs in takes.items():
        r = alice.upload(project, g, [(f"{g}{k}.csv", _csv(x)) for k, x in enumerate(xs)])
        assert r.status_code == 200 and not r.json()["rejected"], r.text
    pid = project["id"]
    clean = alice.get(f"/api/projects/{pid}/health").json()
    assert clean["checked"] == 16 and clean["findings"] == [], clean

    copy = 1.2 * takes["fist"][1][:, 10:] + 0.1  # the same recording, louder and trimmed
    stuck = takes["wave"][3].copy()
    stuck[4] = 0.25
    r = alice.upload(project, "wave", [("fist_again.csv", _csv(copy)), ("stuck.csv", _csv(stuck))])
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    health = alice.get(f"/api/projects/{pid}/health").json()
    by_kind = {f["kind"]: f for f in health["findings"]}
    assert {s["name"] for s in by_kind["label_conflict"]["samples"]} == {"fist/fist1.csv", "wave/fist_again.csv"}
    (stuck_ref,) = by_kind["flat_channel"]["samples"]
    assert stuck_ref["name"] == "wave/stuck.csv" and stuck_ref["value"] == "channel 5" and stuck_ref["sample_id"]
    assert str(app.state.settings.data_dir) not in str(health)

    # The panel asks again on every page view: the stored digests are used, no file is hashed.
    monkeypatch.setattr(service_health, "file_digest", lambda path: (_ for _ in ()).throw(AssertionError(path)))
    assert alice.get(f"/api/projects/{pid}/health").json()["counts"] == health["counts"]
    alice.delete(f"/api/samples/{by_kind['label_conflict']['samples'][1]['sample_id']}")
    after = alice.get(f"/api/projects/{pid}/health").json()
    assert "label_conflict" not in after["counts"] and after["checked"] == 17
