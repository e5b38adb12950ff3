"""Projects, classes and samples: isolation between users, checked uploads, bad input."""
from __future__ import annotations

from pathlib import Path

from service_helpers import zip_bytes

from konstrukt.service.storage import class_dir

PNG_HEADER = b"\x89PNG\r\n\x1a\n"


def _files(digits: Path, cls: str, n: int = 3):
    return [(p.name, p.read_bytes()) for p in sorted((digits / cls).iterdir())[:n]]


def test_project_and_classes(alice):
    project = alice.project("Fruit", classes=("apple", "pear"))
    pid = project["id"]
    assert [c["name"] for c in project["classes"]] == ["apple", "pear"]
    assert alice.post(f"/api/projects/{pid}/classes", json={"name": "apple"}).status_code == 409
    for bad in ("../x", "a/b", ".hidden", ""):
        assert alice.post(f"/api/projects/{pid}/classes", json={"name": bad}).status_code == 422, bad
    cid = project["classes"][0]["id"]
    r = alice.patch(f"/api/projects/{pid}/classes/{cid}", json={"name": "green apple"})
    assert r.status_code == 200 and r.json()["name"] == "green apple"
    assert alice.patch(f"/api/projects/{pid}/classes/{cid}", json={"name": "pear"}).status_code == 409
    assert alice.patch(f"/api/projects/{pid}", json={"name": "Fruits"}).json()["name"] == "Fruits"
    assert alice.post("/api/projects", json={"name": "x", "task": "smell"}).status_code == 422
    tasks = {t["name"]: t for t in alice.get("/api/tasks").json()}
    assert any(p["name"] == "scratch_cnn" and p["offline"] for p in tasks["image"]["pipelines"])
    # what the UI offers comes from the task's modality
    assert (tasks["image"]["capture"], tasks["image"]["preview"]) == ("webcam", "image")
    assert (tasks["sound"]["capture"], tasks["speech"]["preview"]) == ("microphone", "audio")
    assert ".png" in tasks["image"]["accept"].split(",") and "audio/*" in tasks["speech"]["accept"]


def test_upload_keeps_good_files_and_reports_bad_ones(alice, digits, app):
    project = alice.project()
    files = _files(digits, "zero") + [("broken.png", PNG_HEADER + b"truncated"),
                                      ("notes.txt", b"hello"), ("empty.png", b"")]
    r = alice.upload(project, "zero", files)
    assert r.status_code == 200
    body = r.json()
    assert len(body["added"]) == 3
    assert {x["file"] for x in body["rejected"]} == {"broken.png", "notes.txt", "empty.png"}
    assert all(x["error"] for x in body["rejected"])
    sample = body["added"][0]
    got = alice.get(f"/api/samples/{sample['id']}/file")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content == files[0][1]
    assert got.headers["x-content-type-options"] == "nosniff"
    folder = class_dir(app.state.settings.data_dir, project["id"], sample["class_id"])
    assert len(list(folder.iterdir())) == 3
    assert alice.delete(f"/api/samples/{sample['id']}").status_code == 204
    assert len(list(folder.iterdir())) == 2
    assert alice.get(f"/api/samples/{sample['id']}/file").status_code == 404
    tmp = app.state.settings.data_dir / "tmp"
    assert not any(tmp.iterdir())  # nothing staged is left behind


def test_zip_uploads(alice, digits):
    project = alice.project()
    good = {f"digits/{n}": b for n, b in _files(digits, "one", 4)}
    good["__MACOSX/._junk"] = b"junk"
    good["digits/readme.txt"] = b"not an image"
    r = alice.upload(project, "one", [("ones.zip", zip_bytes(good))])
    assert len(r.json()["added"]) == 4
    assert [x["file"] for x in r.json()["rejected"]] == ["ones.zip: readme.txt"]

    evil = zip_bytes({"../../escape.png": _files(digits, "one", 1)[0][1]})
    r = alice.upload(project, "one", [("evil.zip", evil)])
    assert r.json()["added"] == [] and "outside" in r.json()["rejected"][0]["error"]
    bomb = zip_bytes({"big.png": b"\0" * (20 * 1024 * 1024)})
    r = alice.upload(project, "one", [("bomb.zip", bomb)])
    assert r.json()["added"] == [] and "zip bomb" in r.json()["rejected"][0]["error"]
    r = alice.upload(project, "one", [("fake.zip", b"PK not really")])
    assert r.json()["added"] == [] and r.json()["rejected"]
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 4


def test_size_limits_413_and_nothing_lost(app, alice, digits):
    project = alice.project()
    assert len(alice.upload(project, "zero", _files(digits, "zero")).json()["added"]) == 3
    app.state.settings = app.state.settings.with_(max_file_bytes=2000, max_request_bytes=50_000,
                                                  max_json_bytes=1000)
    r = alice.upload(project, "zero", [("huge.png", PNG_HEADER + b"\0" * 3000)])
    assert r.status_code == 200 and "limit" in r.json()["rejected"][0]["error"]
    r = alice.upload(project, "zero", [("enormous.png", b"\0" * 60_000)])
    assert r.status_code == 413
    r = alice.post("/api/projects", json={"name": "x" * 2000, "task": "image"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for _ in range(10):
            yield b"-" * 10_000

    cid = project["classes"][0]["id"]
    r = alice.post(f"/api/projects/{project['id']}/classes/{cid}/samples", content=chunks(),
                   headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert r.status_code == 413
    assert alice.get(f"/api/projects/{project['id']}").json()["sample_count"] == 3  # still all there


def test_bad_requests_get_clear_4xx(alice):
    project = alice.project()
    pid, cid = project["id"], project["classes"][0]["id"]
    r = alice.post("/api/projects", content=b'{"name": "x", ', headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert alice.post("/api/projects", data={"name": "x", "task": "image"}).status_code == 415
    assert alice.post("/api/projects", content=b"name=x").status_code == 415
    assert alice.post(f"/api/projects/{pid}/classes/{cid}/samples", json={"files": []}).status_code == 415
    assert alice.post("/api/projects", json={"name": "x", "task": "image", "extra": 1}).status_code == 422
    assert alice.post("/api/projects", json=["not", "an", "object"]).status_code == 422
    for url in ("/api/projects/999", "/api/jobs/999", "/api/samples/999/file", "/api/projects/abc"):
        assert alice.get(url).status_code in (404, 422), url
    assert alice.get("/api/projects/999").status_code == 404
    assert alice.delete(f"/api/projects/{pid}/classes/999").status_code == 404
    assert alice.get(f"/api/projects/{pid}").status_code == 200  # still serving, nothing lost


def test_other_users_projects_are_404(alice, bob, digits):
    project = alice.project()
    pid, cid = project["id"], project["classes"][0]["id"]
    sid = alice.upload(project, "zero", _files(digits, "zero", 1)).json()["added"][0]["id"]
    assert bob.get("/api/projects").json() == []
    for method, url in [("get", f"/api/projects/{pid}"), ("patch", f"/api/projects/{pid}"),
                        ("delete", f"/api/projects/{pid}"), ("post", f"/api/projects/{pid}/classes"),
                        ("delete", f"/api/projects/{pid}/classes/{cid}"),
                        ("get", f"/api/samples/{sid}/file"), ("delete", f"/api/samples/{sid}"),
                        ("get", f"/api/projects/{pid}/jobs"), ("post", f"/api/projects/{pid}/jobs")]:
        kw = {"json": {"name": "mine"}} if method in ("patch", "post") else {}
        assert getattr(bob, method)(url, **kw).status_code == 404, (method, url)
    r = bob.post(f"/api/projects/{pid}/classes/{cid}/samples", files=[("files", ("a.png", b"x"))])
    assert r.status_code == 404
    assert bob.client.get(f"/projects/{pid}").status_code == 404
    assert alice.get(f"/api/projects/{pid}").json()["sample_count"] == 1


def test_delete_project_removes_its_files(app, alice, digits):
    project = alice.project()
    alice.upload(project, "zero", _files(digits, "zero", 2))
    folder = app.state.settings.data_dir / "projects" / str(project["id"])
    assert folder.exists()
    assert alice.delete(f"/api/projects/{project['id']}").status_code == 204
    assert not folder.exists()
    assert alice.get(f"/api/projects/{project['id']}").status_code == 404
