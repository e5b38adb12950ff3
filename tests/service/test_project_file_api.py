"""A project as one file (issue 24 item 2): download → import into another account → the same
training result; a hostile project file is refused with the member named, and leaves nothing."""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import pytest
from service_helpers import FAST, make_settings, zip_bytes
from sqlalchemy import func, select

from konstrukt.data.project_file import MANIFEST
from konstrukt.service.db import Label, Project, Sample


def _train_now(api, app, pid: int, request: dict) -> dict:
    from konstrukt.service.worker import run_job

    r = api.post(f"/api/projects/{pid}/jobs", json=request)
    assert r.status_code == 201, r.text
    run_job(app.state.sessions, app.state.settings, r.json()["id"])
    job = api.get(f"/api/jobs/{r.json()['id']}").json()
    assert job["status"] == "succeeded", job
    return api.get(f"/api/jobs/{job['id']}/report").json()


def _metrics(report: dict, project: dict) -> dict:
    """What must not change when the same project trains with the same seed elsewhere."""
    assert report["test"]["n"] > 0 and report["history"], report
    return {"test": report["test"], "val": report["val"], "cv": report["cv"], "history": report["history"],
            "best_epoch": report["best_epoch"], "classes": report["classes"],
            "fingerprint": report["data"]["fingerprint"], "per_split": report["data"]["per_split"],
            "test_files": [_uploaded(project, f) for f in report["data"]["files"]["test"]]}


def _uploaded(project: dict, path: str) -> str:
    """A job's data file (``<class id>/<sample id>.png``) as the name it was uploaded as."""
    sid = int(path.rsplit("/", 1)[-1].split(".")[0])
    return next(s["filename"] for c in project["classes"] for s in c["samples"] if s["id"] == sid)


def _import(api, data: bytes, name: str = "p.zip"):
    return api.post("/api/projects/import", files={"file": (name, data, "application/zip")})


def test_download_import_elsewhere_trains_to_the_same_report(alice, bob, app, digits):
    project = alice.filled_project(digits, name="Digits")
    request = {"pipeline": "scratch_cnn", "config": {**FAST, "seed": 7}}
    first = _train_now(alice, app, project["id"], request)

    r = alice.get(f"/api/projects/{project['id']}/file")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip", r.text
    assert "Digits.konstrukt-project.zip" in r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        assert sorted(zf.namelist())[1].startswith("samples/zero/") or "samples/one/" in sorted(zf.namelist())[1]
    assert manifest["task"] == "image" and manifest["classes"] == ["zero", "one"]
    assert manifest["settings"] == {"pipeline": "scratch_cnn", **request["config"]}
    assert len(manifest["samples"]) == 16 and all(len(s["sha256"]) == 64 for s in manifest["samples"])

    assert bob.get(f"/api/projects/{project['id']}/file").status_code == 404  # not bob's project
    r = _import(bob, r.content, "Digits.konstrukt-project.zip")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["settings"] == request and out["notes"] == []
    copy = out["project"]
    assert copy["id"] != project["id"] and copy["name"] == "Digits" and copy["sample_count"] == 16
    assert [c["name"] for c in copy["classes"]] == ["zero", "one"]
    assert [s["filename"] for c in copy["classes"] for s in c["samples"]] == \
           [s["filename"] for c in project["classes"] for s in c["samples"]]
    second = _train_now(bob, app, copy["id"], out["settings"])
    assert _metrics(second, copy) == _metrics(first, project)

    again = bob.get(f"/api/projects/{copy['id']}/file")  # an imported project exports its settings too
    with zipfile.ZipFile(io.BytesIO(again.content)) as zf:
        assert json.loads(zf.read(MANIFEST))["settings"] == manifest["settings"]


def _state(app) -> tuple:
    """Rows and files an import could leave behind."""
    data = app.state.settings.data_dir
    with app.state.sessions() as db:
        rows = tuple(db.scalar(select(func.count(t.id))) for t in (Project, Label, Sample))
    files = sorted(str(p.relative_to(data)) for p in (data / "projects").rglob("*")) if (data / "projects").exists() else []
    tmp = list((data / "tmp").iterdir()) if (data / "tmp").exists() else []
    return rows, files, tmp


@pytest.fixture
def good(alice, digits) -> bytes:
    project = alice.filled_project(digits, name="Source")
    return alice.get(f"/api/projects/{project['id']}/file").content


def _rewrite(content: bytes, edit=None, extra: dict | None = None, members=None) -> bytes:
    """The project file with its manifest edited, members added or replaced."""
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files[MANIFEST])
    if edit:
        edit(manifest)
    files.update(extra or {})
    if members:
        members(files, manifest)
    files[MANIFEST] = json.dumps(manifest).encode()
    return zip_bytes(files)


def _symlink_zip(content: bytes) -> bytes:
    buf = io.BytesIO(content)
    with zipfile.ZipFile(buf, "a") as zf:
        info = zipfile.ZipInfo("samples/zero/999999.png")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _bomb(content: bytes) -> bytes:
    def grow(files, manifest):
        first = manifest["samples"][0]
        files[first["path"]] = b"\0" * (30 * 1024**2)  # 30 MiB of zeros: packs to ~30 KiB
    return _rewrite(content, members=grow)


def _truncate(files, manifest):
    """A damaged image whose size and sha256 the manifest states truly: only decoding finds it."""
    import hashlib

    entry = manifest["samples"][2]
    files[entry["path"]] = data = files[entry["path"]][:60]
    entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())


HOSTILE = {
    "dotdot": (lambda c: _rewrite(c, extra={"../evil.png": b"x"}), "'../evil.png' points outside"),
    "absolute": (lambda c: _rewrite(c, extra={"/tmp/evil.png": b"x"}), "absolute path"),
    "symlink": (_symlink_zip, "is a symbolic link"),
    "digest": (lambda c: _rewrite(c, edit=lambda m: m["samples"][3].update(sha256="0" * 64)),
               "does not match its sha256"),
    "size": (lambda c: _rewrite(c, edit=lambda m: m["samples"][0].update(size=m["samples"][0]["size"] - 1)),
             "bytes; konstrukt-project.json says"),
    "bomb": (_bomb, "zip bomb"),
    "task": (lambda c: _rewrite(c, edit=lambda m: m.update(task="smell")), "unknown task 'smell'"),
    "label": (lambda c: _rewrite(c, edit=lambda m: (m["classes"].__setitem__(0, "ze\nro"),
                                                  [s.update({"class": "ze\nro"}) for s in m["samples"]
                                                   if s["class"] == "zero"])), "not printable"),
    "slash": (lambda c: _rewrite(c, edit=lambda m: (m["classes"].__setitem__(0, "a/b"),
                                                  [s.update({"class": "a/b"}) for s in m["samples"]
                                                   if s["class"] == "zero"])), "cannot start with '.' or contain"),
    "unlisted": (lambda c: _rewrite(c, extra={"samples/zero/000099.png": b"x"}), "is not listed"),
    "settings": (lambda c: _rewrite(c, edit=lambda m: m.update(settings={"learning_rate": -1})),
                 "settings: `learning_rate`"),
    "notzip": (lambda c: b"not a zip at all", "not a readable zip"),
    "nomanifest": (lambda c: zip_bytes({"zero/a.png": c[:100]}), "not a konstrukt project file"),
    "corrupt": (lambda c: _rewrite(c, members=_truncate), "000003.png"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_project_file_is_refused_and_leaves_nothing(kind, good, bob, app):
    make, words = HOSTILE[kind]
    before = _state(app)
    r = _import(bob, make(good), "evil.zip")
    assert r.status_code == 422, (kind, r.status_code, r.text)
    text = json.dumps(r.json())
    assert words in text and "evil.zip" in text and "Fix" in text, (kind, text)
    assert str(app.state.settings.data_dir) not in text and "/tmp/" not in text.replace("'/tmp/evil.png'", "")
    assert _state(app) == before


def test_import_over_quota_is_refused_and_leaves_nothing(good, tmp_path, digits):
    from fastapi.testclient import TestClient
    from service_helpers import Api

    from konstrukt.service import create_app

    app = create_app(make_settings(tmp_path, max_samples_per_user=10))
    with TestClient(app) as client:
        carol = Api(client, "carol@example.com")
        before = _state(app)
        r = _import(carol, good)
        assert r.status_code == 409 and "16 examples" in r.text and "may store 10" in r.text, r.text
        assert _state(app) == before
        app.state.settings = replace(app.state.settings, max_samples_per_user=100,
                                     max_file_bytes=100)  # a member over the per-file limit
        r = _import(carol, good)
        assert r.status_code == 422 and "per-file limit" in r.text, r.text
        assert _state(app) == before


def test_a_failure_while_storing_rolls_everything_back(good, bob, app, monkeypatch):
    from konstrukt.service import blobs

    kept = []
    real = blobs.keep_sample

    def flaky(settings, key, staged, digest):
        if len(kept) == 5:
            raise OSError("disk full")
        kept.append(key)
        real(settings, key, staged, digest)

    before = _state(app)
    monkeypatch.setattr(blobs, "keep_sample", flaky)
    with pytest.raises(OSError):
        _import(bob, good)
    assert len(kept) == 5 and _state(app) == before


def test_settings_the_server_decides_are_left_out_with_a_note(bob, digits, tmp_path):
    from konstrukt.data.project_file import ProjectSample, write_project_file

    samples = [ProjectSample(c, p) for c in ("zero", "one") for p in sorted((digits / c).iterdir())]
    path = tmp_path / "p.zip"
    write_project_file(path, task="image", classes=["zero", "one"], samples=samples, name="From the CLI",
                       settings={"pipeline": "scratch_cnn", "device": "cuda", "pretrained": "/home/me/w.pth",
                                 "num_epochs": 2})
    r = _import(bob, path.read_bytes())
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["settings"] == {"pipeline": "scratch_cnn", "config": {"num_epochs": 2}}
    assert out["notes"] == ["left out of the settings (decided by this server): device, pretrained"]
    assert "/home/me" not in r.text
    carried = bob.get(f"/api/projects/{out['project']['id']}/settings").json()
    assert carried == {**out["settings"], "notes": []}


def test_with_a_separate_blob_store_import_and_export_round_trip_and_a_refusal_stores_nothing(good, tmp_path):
    """The store is not the data directory (as with S3): files go through put/get and the hash cache."""
    from fastapi.testclient import TestClient
    from service_helpers import Api

    from konstrukt.service import create_app

    store = tmp_path / "store"
    app = create_app(make_settings(tmp_path / "svc", storage_url=str(store)))
    with TestClient(app) as client:
        dan = Api(client, "dan@example.com")
        bad = _rewrite(good, edit=lambda m: m["samples"][5].update(sha256="f" * 64))
        assert _import(dan, bad).status_code == 422
        assert not [p for p in store.rglob("*") if p.is_file()] and _state(app)[0] == (0, 0, 0)
        r = _import(dan, good)
        assert r.status_code == 201, r.text
        pid = r.json()["project"]["id"]
        assert len([p for p in (store / "projects" / str(pid) / "samples").rglob("*") if p.is_file()]) == 16
        again = dan.get(f"/api/projects/{pid}/file")
        assert again.status_code == 200, again.text
        with zipfile.ZipFile(io.BytesIO(good)) as a, zipfile.ZipFile(io.BytesIO(again.content)) as b:
            first, second = json.loads(a.read(MANIFEST)), json.loads(b.read(MANIFEST))
        assert second["samples"] == first["samples"] and second["classes"] == first["classes"]
        assert dan.delete(f"/api/projects/{pid}").status_code == 204
        assert not [p for p in store.rglob("*") if p.is_file()]
