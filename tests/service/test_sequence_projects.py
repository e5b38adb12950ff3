"""Sequence projects through the service: recordings with their text (a zip with a `path,text` CSV,
or one clip with a typed text), a sequence run trained by the real worker, its CER in the report,
and Try it answering the decoded text. Hostile CSVs are refused whole, each bad row named."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from service_helpers import Api, new_client, running_worker_app, wait_for_job, zip_bytes

from tests.sequence_data import RATE, recording, write_sequences

TINY = {"num_epochs": 3, "batch_size": 4, "cv": 2, "widths": [16], "hidden_size": 16, "layers": 1,
        "pipeline": "rescnn"}


@pytest.fixture(scope="module")
def seq_app(tmp_path_factory):
    yield from running_worker_app(tmp_path_factory)


def _npz(text: str, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, data=recording(text, np.random.default_rng(seed)), fs=RATE)
    return buf.getvalue()


def _project(api: Api, name="Keys") -> dict:
    r = api.post("/api/projects", json={"name": name, "task": "signal", "kind": "sequence"})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "sequence"
    return r.json()


def _send(api: Api, pid: int, files, text=None):
    return api.post(f"/api/projects/{pid}/recordings", data={} if text is None else {"text": text},
                    files=[("files", (n, b, "application/octet-stream")) for n, b in files])


def _data_zip(tmp_path, n=16) -> bytes:
    csv_path = write_sequences(tmp_path / "seq", n=n, seed=3)
    members = {"data/labels.csv": csv_path.read_bytes()}
    members.update({f"data/{p.name}": p.read_bytes() for p in sorted(csv_path.parent.glob("*.npz"))})
    return zip_bytes(members)


def test_sequence_project_uploads_trains_and_decodes(seq_app, tmp_path):
    eve = Api(new_client(seq_app), "eve-seq@example.com")
    project = _project(eve)
    pid = project["id"]
    r = _send(eve, pid, [("keys.zip", _data_zip(tmp_path))])
    assert r.status_code == 200 and not r.json()["rejected"], r.text
    added = r.json()["added"]
    assert len(added) == 16 and all(set(s["text"]) <= set("abcd") and s["text"] for s in added)
    # the recorder: one clip with its text typed beside it
    r = _send(eve, pid, [("clip.npz", _npz("abba", seed=9))], text="abba")
    assert r.status_code == 200 and r.json()["added"][0]["text"] == "abba", r.text
    sample_id = r.json()["added"][0]["id"]
    r = eve.patch(f"/api/samples/{sample_id}/text", json={"text": "abb"})
    assert r.status_code == 200 and r.json()["text"] == "abb"
    got = eve.get(f"/api/projects/{pid}").json()
    assert got["kind"] == "sequence" and got["sample_count"] == 17
    # no classes in a sequence project; compare names sequence models (test_sequence_compare_service)
    assert eve.post(f"/api/projects/{pid}/classes", json={"name": "x"}).status_code == 409
    assert eve.post(f"/api/projects/{pid}/compare", json={"pipelines": ["efficientnet_b0"]}).status_code == 422
    assert eve.get(f"/api/projects/{pid}/file").status_code == 200  # with texts: test_sequence_project_file_api
    bucket = got["classes"][0]["id"]  # the implicit class is no class to rename, delete or fill without text
    assert eve.patch(f"/api/projects/{pid}/classes/{bucket}", json={"name": "y"}).status_code == 409
    assert eve.delete(f"/api/projects/{pid}/classes/{bucket}").status_code == 409
    r = eve.post(f"/api/projects/{pid}/classes/{bucket}/samples", files=[("files", ("c.npz", _npz("ab", 7)))])
    assert r.status_code == 409 and "/recordings" in r.text
    # a config key of sequence runs only is accepted; a bad one is refused now, by name
    r = eve.post(f"/api/projects/{pid}/jobs", json={"pipeline": "auto", "config": {**TINY, "widths": "x"}})
    assert r.status_code == 422 and "widths" in r.text

    r = eve.post(f"/api/projects/{pid}/jobs", json={"pipeline": "rescnn", "config": TINY})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    job = wait_for_job(eve, job_id, timeout=240)
    assert job["status"] == "succeeded", job
    assert job["summary"]["cer"] is not None and job["summary"]["cv_folds"] == 2
    events = [json.loads(line.split(":", 1)[1]) for line in eve.client.get(f"/api/jobs/{job_id}/events").text.splitlines()
              if line.startswith("data:")]  # the whole stream: the job has ended
    epochs = [e for e in events if e.get("stage") == "train" and e.get("train_loss") is not None]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and epochs[0]["epochs"] == 3, events  # the live chart's
    assert [e["fold"] for e in events if e.get("stage") == "cv"] == [1, 2]
    report = eve.get(f"/api/jobs/{job_id}/report").json()
    assert report["kind"] == "sequence" and 0 <= report["test"]["cer"]
    assert report["cv"]["cer_mean"] is not None and report["test"]["worst"]
    worst = report["test"]["worst"][0]
    assert worst["name"].startswith("keys.zip: rec3_") and {"text", "decoded", "cer"} <= set(worst), worst
    assert any(n["kind"] == "small_test" for n in report["notes"])  # 3 test recordings

    r = eve.post(f"/api/jobs/{job_id}/predict", files={"file": ("probe.npz", _npz("cab", seed=4))})
    assert r.status_code == 200, r.text
    out = r.json()
    assert isinstance(out["text"], str) and 0 <= out["confidence"] <= 1 and out["label"] is None
    assert eve.get(f"/api/jobs/{job_id}/health").status_code == 200
    assert eve.get(f"/api/projects/{pid}/recommendation?jobs={job_id}").json()["job_id"] == job_id  # by CER
    assert eve.get(f"/api/jobs/{job_id}/download").status_code == 200
    assert eve.get(f"/api/projects/{pid}/health").status_code == 200
    assert eve.get(f"/api/jobs/{job_id}/files/curves.png").status_code == 200
    r = eve.post(f"/api/jobs/{job_id}/exports", json={"format": "web"})  # more: test_sequence_export_service
    assert r.status_code == 422 and "no web page for sequence runs" in r.text
    # the worker exports the run it trained (its held-out recordings are the job's copies)
    export_id = eve.post(f"/api/jobs/{job_id}/exports", json={"format": "onnx"}).json()["job"]["id"]
    done = wait_for_job(eve, export_id, timeout=180)
    assert done["status"] == "succeeded", done
    assert eve.get(f"/api/jobs/{job_id}/export?format=onnx").status_code == 200


def test_hostile_csv_rows_are_named_and_nothing_is_added(seq_app):
    mal = Api(new_client(seq_app), "mal-seq@example.com")
    pid = _project(mal, "Hostile")["id"]
    rec = _npz("ab")
    cases = {
        "missing": (b"path,text\nthere.npz,ab\nnot_there.npz,ab\n", "row 3: file 'not_there.npz' is not in the zip"),
        "escape": (b"path,text\n../../etc/passwd,ab\n", "row 2: file '../../etc/passwd' is not in the zip"),
        "long": (b"path,text\nthere.npz," + b"a" * 501 + b"\n", "row 2: the text is 501 characters long"),
        "control": (b"path,text\nthere.npz,a\x07b\n", "row 2: text 'a\\x07b' holds a character that is not printable"),
        "header": (b"file,label\nthere.npz,ab\n", "the header must name the columns `path` and `text`"),
        "twice": (b"path,text\nthere.npz,ab\nthere.npz,ba\n", "'there.npz' is named twice"),
    }
    for name, (table, expected) in cases.items():
        r = _send(mal, pid, [(f"{name}.zip", zip_bytes({"labels.csv": table, "there.npz": rec}))])
        assert r.status_code == 422, (name, r.text)
        said = " ".join([r.json()["detail"], *r.json().get("problems", [])])
        assert expected in said and "labels.csv" in said, (name, said)
        assert "/tmp" not in r.text and "/data/" not in r.text, r.text
    r = _send(mal, pid, [("two.zip", zip_bytes({"a.csv": b"path,text\n", "b.csv": b"path,text\n"}))])
    assert r.status_code == 422 and "holds 2 CSV files" in r.text
    same = zip_bytes({"labels.csv": b"path,text\nthere.npz,ab\n", "there.npz": rec})
    r = _send(mal, pid, [("same.zip", same), ("same.zip", same)])
    assert r.status_code == 422 and "sent twice" in r.text
    # the recorder's text: the same rules
    assert _send(mal, pid, [("c.npz", rec)], text="a\tb").status_code == 422
    r = _send(mal, pid, [("c.npz", rec)], text="x" * 600)
    assert r.status_code == 422 and "600 characters long" in r.text
    assert _send(mal, pid, [("c.npz", rec)], text="   ").status_code == 422
    # a recording without text is listed as rejected, not stored
    r = _send(mal, pid, [("c.npz", rec)])
    assert r.status_code == 200 and r.json()["rejected"][0]["file"] == "c.npz"
    # an unreadable recording is rejected by the modality, its good neighbours kept
    table = b"path,text\nthere.npz,ab\nbad.npz,ab\n"
    r = _send(mal, pid, [("mix.zip", zip_bytes({"labels.csv": table, "there.npz": rec, "bad.npz": b"nope"}))])
    assert r.status_code == 200 and [s["text"] for s in r.json()["added"]] == ["ab"], r.text
    assert r.json()["rejected"][0]["file"] == "mix.zip: bad.npz"
    assert mal.get(f"/api/projects/{pid}").json()["sample_count"] == 1
    r = mal.patch(f"/api/samples/{r.json()['added'][0]['id']}/text", json={"text": "a\nb"})
    assert r.status_code == 422
    # an image project cannot be a sequence project; a classification project takes no recordings
    tasks = {t["name"]: t["sequence"] for t in mal.get("/api/tasks").json()}
    assert tasks["signal"] and tasks["sound"] and not tasks["image"]
    r = mal.post("/api/projects", json={"name": "I", "task": "image", "kind": "sequence"})
    assert r.status_code == 422 and "cannot make sequence projects" in r.text
    cls = mal.post("/api/projects", json={"name": "C", "task": "signal"}).json()
    assert _send(mal, cls["id"], [("c.npz", rec)], text="ab").status_code == 409
    # another user's project is not found
    other = Api(new_client(seq_app), "other-seq@example.com")
    assert _send(other, pid, [("c.npz", rec)], text="ab").status_code == 404


def test_a_database_of_before_sequence_projects_is_migrated(tmp_path):
    """A database at revision 0002 (with a project and a sample) gains projects.kind = classes and
    samples.text = NULL; its ids stay never-reused (the tables are not rebuilt without AUTOINCREMENT)."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from konstrukt.service import db as dbm

    engine = dbm.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(dbm.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.exec_driver_sql("INSERT INTO users (email, password_hash, session_version, created_at) "
                             "VALUES ('a@b.c', 'x', 0, '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO projects (user_id, name, task, created_at) VALUES (1, 'P', 'image', '2026-01-01')")
    dbm.migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind FROM projects")).scalar() == "classes"
        cols = {c["name"] for c in sa.inspect(conn).get_columns("samples")}
        assert "text" in cols
        sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'projects'")).scalar()
        assert "AUTOINCREMENT" in sql.upper()


def test_a_sequence_manifest_writes_path_text_and_survives_json(tmp_path):
    """The job's manifest carries each recording's text (commas, quotes, spaces kept) to the worker,
    which writes a `path,text` labels CSV: the core reads it as a sequence run."""
    from konstrukt.blobstore.manifest import Manifest, ManifestEntry
    from konstrukt.sequences.data import read_text_csv

    texts = ['a, "b"', " spaced ", ""]
    entries = [ManifestEntry(key=f"k/{i}", path=f"3/{i}.npz", sha256="0" * 64, size=1, name=f"r{i}.npz",
                             label="recordings", text=t) for i, t in enumerate(texts)]
    manifest = Manifest.from_json(Manifest(entries, labelled=True, sequence=True).to_json())
    assert manifest.sequence and [e.text for e in manifest.entries] == texts
    (tmp_path / "3").mkdir()
    for i in range(3):
        (tmp_path / "3" / f"{i}.npz").write_bytes(b"")
    layout, rows = read_text_csv(manifest.write_labels(tmp_path))
    assert layout == "files" and [r.text for r in rows] == texts
    assert Manifest.from_json(Manifest(entries[:1], labelled=True).to_json()).sequence is False
