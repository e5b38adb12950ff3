"""A project as one file (issue 24 item 2) in the library and the CLI: round trip, the same
training result from the unpacked folder, and hostile files refused with nothing left behind."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from konstrukt.cli import main
from konstrukt.data.project_file import (MANIFEST, Limits, ProjectSample, folder_name, pack_dataset,
                                         read_project_file, unpack_project, write_project_file)
from konstrukt.errors import DataError

from tests.conftest import SIGNAL_FAST, write_signals


@pytest.fixture
def signals(tmp_path) -> Path:
    return write_signals(tmp_path / "emg", classes=("up", "down"), per_class=6)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_round_trip_keeps_classes_order_names_bytes_and_settings(signals, tmp_path):
    out = tmp_path / "p.zip"
    written = pack_dataset(signals, out, task="signal", settings={"num_epochs": 3, "pipeline": "rescnn_se"})
    assert written.classes == ["down", "up"] and len(written.samples) == 12
    contents = read_project_file(out, tmp_path / "x")
    assert contents.manifest == written
    originals = sorted((signals / "down").iterdir()) + sorted((signals / "up").iterdir())
    assert [e.name for e, _ in contents.files] == [p.name for p in originals]
    assert [p.read_bytes() for _, p in contents.files] == [p.read_bytes() for p in originals]
    assert [e.path for e, _ in contents.files][:2] == ["samples/down/000001.csv", "samples/down/000002.csv"]


def test_class_names_that_are_no_folder_names_keep_their_name_in_the_manifest(signals, tmp_path):
    files = sorted((signals / "up").iterdir())
    samples = [ProjectSample("a/b", files[0]), ProjectSample("test", files[1]), ProjectSample("up", files[2])]
    write_project_file(tmp_path / "p.zip", task="signal", classes=["a/b", "test", "up"], samples=samples)
    assert [folder_name(c, i) for i, c in enumerate(["a/b", "test", "up"])] == ["class-1", "class-2", "up"]
    c = read_project_file(tmp_path / "p.zip", tmp_path / "x")
    assert [(e.label, e.path) for e, _ in c.files] == [("a/b", "samples/class-1/000001.csv"),
                                                        ("test", "samples/class-2/000002.csv"),
                                                        ("up", "samples/up/000003.csv")]


def _edit(src: Path, dest: Path, edit=None, extra: dict | None = None) -> Path:
    with zipfile.ZipFile(src) as zf:
        files = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(files[MANIFEST])
    if edit:
        edit(manifest, files)
    files[MANIFEST] = json.dumps(manifest).encode()
    files.update(extra or {})
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, b in files.items():
            zf.writestr(n, b)
    return dest


def _swap_content(m, files):
    """A file replaced by another valid one, its size kept true: only the sha256 tells."""
    a, b = m["samples"][0], m["samples"][1]
    files[a["path"]] = files[b["path"]]
    a["size"] = b["size"]


HOSTILE = {
    "traversal": (dict(extra={"samples/../../x.csv": b"1,2"}), "points outside the archive"),
    "digest": (dict(edit=_swap_content), "does not match its sha256"),
    "missing": (dict(edit=lambda m, f: f.pop(m["samples"][0]["path"])), "missing from the archive"),
    "task": (dict(edit=lambda m, f: m.update(task="taste")), "unknown task 'taste'"),
    "label": (dict(edit=lambda m, f: [m.update(classes=["up", " down"]),
                                      [s.update({"class": " down"}) for s in m["samples"] if s["class"] == "down"]]),
              "starts or ends with a space"),
    "class": (dict(edit=lambda m, f: m["samples"][0].update({"class": "sideways"})), "is not in `classes`"),
    "path": (dict(edit=lambda m, f: m["samples"][0].update(path="elsewhere.csv")), "not a path this format uses"),
    "version": (dict(edit=lambda m, f: m.update(version=9)), "this konstrukt reads version 1"),
    "settings": (dict(edit=lambda m, f: m.update(settings={"optimizer": "magic"})), "settings: `optimizer.name`"),
    "pipeline": (dict(edit=lambda m, f: m.update(settings={"pipeline": "efficientnet_b0"})), "not a signal pipeline"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_project_files_are_refused_naming_the_problem_and_leave_nothing(kind, signals, tmp_path):
    good = tmp_path / "good.zip"
    pack_dataset(signals, good, task="signal")
    how, words = HOSTILE[kind]
    bad = _edit(good, tmp_path / "bad.zip", **how)
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as err:
        read_project_file(bad, dest, name="their.zip")
    assert words in str(err.value) and "their.zip" in str(err.value) and "Fix" in str(err.value), str(err.value)
    assert not dest.exists()


def test_limits_are_counted_and_a_late_failure_removes_what_was_written(signals, tmp_path):
    good = tmp_path / "good.zip"
    pack_dataset(signals, good, task="signal")
    with pytest.raises(DataError, match="per-file limit") as err:
        read_project_file(good, tmp_path / "a", limits=Limits(max_member_bytes=1200))
    assert "samples/down/000001.csv" in str(err.value) and MANIFEST not in str(err.value)
    with pytest.raises(DataError, match="12 files, more than the limit of 3"):
        read_project_file(good, tmp_path / "b", limits=Limits(max_files=3))
    # a damaged last file: found only after everything else was extracted, and all of it goes
    def damage(m, files):
        last = m["samples"][-1]
        files[last["path"]] = data = b"time,a\n0,1\n0.01\n"
        last.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    dest = tmp_path / "c"
    with pytest.raises(DataError, match="000012.csv"):
        read_project_file(_edit(good, tmp_path / "bad.zip", edit=damage), dest)
    assert not dest.exists()
    (tmp_path / "empty").mkdir()  # a folder that was there stays, empty
    with pytest.raises(DataError, match="000012.csv"):
        read_project_file(tmp_path / "bad.zip", tmp_path / "empty")
    assert (tmp_path / "empty").is_dir() and _files(tmp_path / "empty") == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        read_project_file(good, tmp_path / "full")
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


def test_a_zip_bomb_is_refused_before_it_is_written(signals, tmp_path):
    good = tmp_path / "good.zip"
    pack_dataset(signals, good, task="signal")
    bomb = _edit(good, tmp_path / "bomb.zip", edit=lambda m, f: (
        f.update({m["samples"][0]["path"]: b"0" * (20 * 1024**2)}), m["samples"][0].update(size=20 * 1024**2)))
    with pytest.raises(DataError, match="zip bomb"):
        read_project_file(bomb, tmp_path / "d")
    assert not (tmp_path / "d").exists()


def _result(run: Path) -> dict:
    r = json.loads((run / "report.json").read_text())
    return {"test": r["test"], "history": r["history"], "fingerprint": r["data"]["fingerprint"],
            "test_files": [Path(p).name for p in r["data"]["files"]["test"]]}


def test_cli_export_import_trains_to_the_same_report(signals, tmp_path, capsys):
    cfg = tmp_path / "hyperparams.json"
    cfg.write_text(json.dumps({**SIGNAL_FAST, "pipeline": "rescnn_se", "seed": 3}))
    assert main(["project", "export", str(signals), "--task", "signal", "--config", str(cfg),
                 "--out", str(tmp_path / "emg.zip")]) == 0
    assert "2 classes, 12 examples" in capsys.readouterr().out
    unpacked = tmp_path / "unpacked"
    assert main(["project", "import", str(tmp_path / "emg.zip"), "--out", str(unpacked)]) == 0
    out = capsys.readouterr().out
    assert f"konstrukt train {unpacked / 'labels.csv'} --config {unpacked / 'settings.json'}" in out
    assert json.loads((unpacked / "settings.json").read_text())["task"] == "signal"

    assert main(["train", str(signals), "--task", "signal", "--config", str(cfg), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    assert main(["train", str(unpacked / "labels.csv"), "--config", str(unpacked / "settings.json"),
                 "--out", str(tmp_path / "b"), "--quiet"]) == 0
    first, second = _result(tmp_path / "a"), _result(tmp_path / "b")
    names = {f"{i:06d}.csv": p.name for i, p in enumerate(
        sorted((signals / "down").iterdir()) + sorted((signals / "up").iterdir()), start=1)}
    second["test_files"] = [names[n] for n in second["test_files"]]
    assert first["test"]["n"] > 0 and second == first


def test_cli_import_refuses_a_bad_file_without_traceback(signals, tmp_path, capsys):
    pack_dataset(signals, tmp_path / "good.zip", task="signal")
    _edit(tmp_path / "good.zip", tmp_path / "bad.zip", edit=_swap_content)
    assert main(["project", "import", str(tmp_path / "bad.zip"), "--out", str(tmp_path / "u")]) == 2
    err = capsys.readouterr().err
    assert "does not match its sha256" in err and "Traceback" not in err
    assert not (tmp_path / "u").exists()  # not even the folder it would have made
