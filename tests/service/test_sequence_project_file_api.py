"""A sequence project as one file through the service (issue 23): Download project carries the kind
and each recording's text; Import project makes a sequence project with the same recordings, texts
and order (and its settings offered again); a text-less or tampered file stores nothing."""
from __future__ import annotations

import json
import zipfile
import io

from service_helpers import zip_bytes
from sqlalchemy import func, select
from test_sequence_projects import _data_zip, _npz, _project, _send

from konstrukt.data.project_file import MANIFEST
from konstrukt.service.db import Project


def _samples(api, pid):
    project = api.get(f"/api/projects/{pid}").json()
    return project, [(s["filename"], s["text"]) for c in project["classes"] for s in c["samples"]]


def test_download_and_import_keep_kind_texts_and_order(alice, bob, app, tmp_path):
    pid = _project(alice)["id"]
    assert _send(alice, pid, [("keys.zip", _data_zip(tmp_path, n=5))]).json()["rejected"] == []
    r = _send(alice, pid, [("clip.npz", (tmp_path / "seq" / "rec3_000.npz").read_bytes())], text='a, "b" c')
    assert r.status_code == 200, r.text
    _, before = _samples(alice, pid)
    r = alice.get(f"/api/projects/{pid}/file")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        manifest = json.loads(zf.read(MANIFEST))
    assert manifest["kind"] == "sequence" and [s["text"] for s in manifest["samples"]] == [t for _, t in before]

    got = bob.post("/api/projects/import", files={"file": ("Keys.konstrukt-project.zip", r.content, "application/zip")})
    assert got.status_code == 201, got.text
    copy, after = _samples(bob, got.json()["project"]["id"])
    assert copy["kind"] == "sequence" and copy["task"] == "signal" and after == before
    # it is a sequence project in every way: recordings with text go in, classes do not
    cid = copy["id"]
    assert bob.post(f"/api/projects/{cid}/classes", json={"name": "x"}).status_code == 409
    r = _send(bob, cid, [("c.npz", _npz("ab", seed=11))], text="ab")
    assert r.status_code == 200 and r.json()["added"][0]["text"] == "ab"
    again = bob.get(f"/api/projects/{cid}/file")
    with zipfile.ZipFile(io.BytesIO(again.content)) as zf:
        assert [s["text"] for s in json.loads(zf.read(MANIFEST))["samples"]][:-1] == [t for _, t in before]


def test_a_tampered_sequence_file_stores_nothing(alice, bob, app, tmp_path):
    pid = _project(alice)["id"]
    _send(alice, pid, [("keys.zip", _data_zip(tmp_path, n=3))])
    content = alice.get(f"/api/projects/{pid}/file").content
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with app.state.sessions() as db:
        projects = db.scalar(select(func.count(Project.id)))
    for change, said in ((lambda m: m["samples"][1].pop("text"), "needs its `text`"),
                         (lambda m: m.update(task="image"), "settings:"),
                         (lambda m: m["samples"][0].update(text="a\nb"), "not printable")):
        manifest = json.loads(members[MANIFEST])
        change(manifest)
        bad = zip_bytes({**members, MANIFEST: json.dumps(manifest).encode()})
        r = bob.post("/api/projects/import", files={"file": ("bad.zip", bad, "application/zip")})
        assert r.status_code == 422 and said in r.text, r.text
        assert "/tmp" not in r.text
    with app.state.sessions() as db:
        assert db.scalar(select(func.count(Project.id))) == projects
