"""A sequence project as one project file (issue 23): `konstrukt project export` of a `path,text`
CSV carries each recording's text and the kind; `project import` unpacks a `path,text` CSV that
trains as a sequence run; a file whose texts are missing, broken or on a classes project is refused."""
from __future__ import annotations

import csv
import json
import zipfile

import pytest

from konstrukt.cli import main
from konstrukt.data.project_file import MANIFEST, pack_dataset, read_project_file
from konstrukt.errors import DataError
from tests.sequence_data import write_sequences


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_cli_round_trip_keeps_texts_order_and_settings(tmp_path, capsys):
    src = write_sequences(tmp_path / "keys", n=6, seed=5)
    cfg = tmp_path / "seq.json"
    cfg.write_text(json.dumps({"pipeline": "rescnn", "num_epochs": 2, "widths": [16]}))
    out = tmp_path / "keys.zip"
    assert main(["project", "export", str(src), "--config", str(cfg), "--out", str(out)]) == 0
    assert "recordings with their text" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read(MANIFEST))
    assert manifest["kind"] == "sequence" and manifest["task"] == "signal" and manifest["version"] == 2
    given = _rows(src)[1:]
    assert [s["text"] for s in manifest["samples"]] == [t for _, t in given]
    assert [s["name"] for s in manifest["samples"]] == [p for p, _ in given]

    unpacked = tmp_path / "unpacked"
    assert main(["project", "import", str(out), "--out", str(unpacked)]) == 0
    rows = _rows(unpacked / "labels.csv")
    assert rows[0] == ["path", "text"] and [t for _, t in rows[1:]] == [t for _, t in given]
    for (p, _), (orig, _) in zip(rows[1:], given):  # the very bytes
        assert (unpacked / p).read_bytes() == (src.parent / orig).read_bytes()
    settings = json.loads((unpacked / "settings.json").read_text())
    assert settings == {"pipeline": "rescnn", "num_epochs": 2, "widths": [16], "task": "signal"}
    from konstrukt.sequences.config import build_sequence_config
    from konstrukt.sequences.data import read_text_csv

    assert read_text_csv(unpacked / "labels.csv")[0] == "files"  # `konstrukt train` makes a sequence run
    assert build_sequence_config(unpacked / "settings.json").pipeline == "rescnn"


def _tamper(src_zip, dest, change):
    with zipfile.ZipFile(src_zip) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members[MANIFEST])
    change(manifest)
    members[MANIFEST] = json.dumps(manifest).encode()
    with zipfile.ZipFile(dest, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return dest


@pytest.mark.parametrize("change, said", [
    (lambda m: m["samples"][0].pop("text"), "needs its `text`"),
    (lambda m: m["samples"][0].update(text="a\tb"), "not printable"),
    (lambda m: m["samples"][0].update(text="x" * 501), "501 characters long"),
    (lambda m: m.update(kind="classes"), "has a `text` but the project's kind is 'classes'"),
    (lambda m: m["settings"].update(widths="wide"), "settings: `widths`"),
    (lambda m: m["settings"].update(pipeline="nope"), "settings:"),
    (lambda m: m.update(task="image"), "settings:"),
    (lambda m: m.update(version=3), "reads version 1 (and 2: a sequence project)"),
])
def test_a_broken_sequence_project_file_is_refused_naming_the_problem(tmp_path, change, said):
    src = write_sequences(tmp_path / "keys", n=3, seed=6)
    good = tmp_path / "good.zip"
    main(["project", "export", str(src), "--out", str(good), "--config", str(_cfg(tmp_path))])
    bad = _tamper(good, tmp_path / "bad.zip", change)
    with pytest.raises(DataError) as err:
        read_project_file(bad, tmp_path / "x", name="bad.zip")
    assert said in " ".join([err.value.message, *err.value.problems])
    assert not (tmp_path / "x").exists()


def _cfg(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"pipeline": "rescnn"}))
    return path


def test_windows_of_long_recordings_are_not_packed(tmp_path):
    src = write_sequences(tmp_path / "keys", n=2, seed=7)
    events = tmp_path / "keys" / "events.csv"
    events.write_text(f"file,start,end,text\n{_rows(src)[1][0]},0,0.5,a\n")
    with pytest.raises(DataError, match="not timed events"):
        pack_dataset(events, tmp_path / "e.zip", task=None, settings={})
