"""The default store is the data directory with its old layout: nothing moves for existing users."""
from __future__ import annotations

import json

from service_helpers import FAST

from konstrukt.service.db import Sample


def test_default_store_keeps_the_data_dir_layout_and_links_job_files(app, alice, digits):
    settings = app.state.settings
    project = alice.filled_project(digits)
    pid = project["id"]
    cid = project["classes"][0]["id"]
    samples = settings.data_dir / "projects" / str(pid) / "samples" / str(cid)
    assert len(list(samples.iterdir())) == 8
    with app.state.sessions() as db:  # a row from before digests were kept
        row = db.query(Sample).filter(Sample.class_id == cid).first()
        row.digest, stored = None, row.stored_name
        db.commit()
    jid = alice.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": FAST}).json()["id"]
    job = settings.data_dir / "projects" / str(pid) / "jobs" / str(jid)
    manifest = json.loads((job / "manifest.json").read_text())
    assert len(manifest["entries"]) == 16 and all(len(e["sha256"]) == 64 for e in manifest["entries"])
    linked = job / "data" / str(cid) / stored  # the job's folders are named by class id
    assert linked.stat().st_ino == (samples / stored).stat().st_ino  # a hard link, as before
    assert not (settings.data_dir / "cache").exists()  # no caches for the local store
