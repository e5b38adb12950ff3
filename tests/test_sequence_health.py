"""Data health of sequence data (issue 23): counts (recordings per subject, durations, text lengths,
alphabet) and findings — texts too long for their recording at the model's frame rate, copies
with one or two texts, texts said twice, tokens seen once, unreadable files — from the library
and from `konstrukt check TEXT.csv`."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np

from konstrukt.cli import main
from konstrukt.sequences.config import SequenceConfig
from konstrukt.sequences.health import check_text_csv
from tests.sequence_data import RATE, recording, write_sequences


def _append(csv_path, rows):
    with open(csv_path, "a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)


def _by_kind(health):
    return {f["kind"]: f for f in health["findings"]}


def test_counts_and_every_finding_name_their_recordings(tmp_path):
    src = write_sequences(tmp_path / "d", n=12, seed=1, subjects=3)
    rng = np.random.default_rng(0)
    # 16 tokens in ~0.9 s: the default model (2 CNN blocks, 12.5 output frames/s) gives ~12 frames
    np.savez(tmp_path / "d" / "crammed.npz", data=recording("ab", rng)[:, :45], fs=RATE)
    shutil.copy(tmp_path / "d" / "rec1_000.npz", tmp_path / "d" / "copy.npz")
    shutil.copy(tmp_path / "d" / "rec1_001.npz", tmp_path / "d" / "conflict.npz")
    (tmp_path / "d" / "broken.npz").write_bytes(b"not a recording")
    np.savez(tmp_path / "d" / "rare.npz", data=recording("abz", rng), fs=RATE)
    first = list(csv.reader(open(src, encoding="utf-8")))[1:3]
    _append(src, [["crammed.npz", "abababababababab", "s0"], ["copy.npz", first[0][1], "s1"],
                  ["conflict.npz", first[1][1] + "x", "s2"], ["broken.npz", "ab", "s0"], ["rare.npz", "abq", "s1"]])
    health = check_text_csv(src, SequenceConfig(frontend="default"))  # its frame rate: 50 Hz / 4
    found = _by_kind(health)
    st = health["stats"]
    assert st["recordings"] == 17 and sum(st["subjects"].values()) == 17 and set(st["subjects"]) == {"s0", "s1", "s2"}
    assert st["channels"] == 2 and st["sample_rate"] == RATE and st["output_frames_per_second"] == 12.5
    assert st["duration_seconds"]["min"] <= 0.9 < st["duration_seconds"]["max"] and st["text_length"]["max"] == 16
    assert st["alphabet"]["q"] == 1

    too_long = found["text_too_long"]
    assert [s["name"] for s in too_long["samples"]] == ["crammed.npz"]
    assert "needs 16 frames" in too_long["samples"][0]["value"] and "12.5 output frames per second" in too_long["message"]
    assert {s["name"] for s in found["exact_duplicate"]["samples"]} == {"rec1_000.npz", "copy.npz"}
    assert {s["name"] for s in found["label_conflict"]["samples"]} == {"rec1_001.npz", "conflict.npz"}
    assert [s["name"] for s in found["unreadable"]["samples"]] == ["broken.npz"]
    assert found["rare_token"]["detail"]["tokens"] == ["q", "x"]
    assert {s["name"] for s in found["rare_token"]["samples"]} == {"rare.npz", "conflict.npz"}
    assert not health["ok"] and health["checked"] == 17

    # fewer CNN blocks double the frame rate: the crammed text fits (16 tokens, 22 frames)
    wider = check_text_csv(src, SequenceConfig(frontend="default", widths=[64]))
    assert "text_too_long" not in _by_kind(wider) and wider["stats"]["output_frames_per_second"] == 25.0


def test_clean_data_has_no_warnings(tmp_path):
    src = write_sequences(tmp_path / "d", n=12, seed=2, alphabet="ab", lengths=(2, 3))
    health = check_text_csv(src, SequenceConfig(tokens="chars"))
    assert health["ok"], health["findings"]
    assert all(f["severity"] == "info" for f in health["findings"])


def test_cli_check_prints_the_counts_and_json(tmp_path, capsys):
    src = write_sequences(tmp_path / "d", n=4, seed=3)
    assert main(["check", str(src)]) == 0
    out = capsys.readouterr().out
    assert "4 recordings, 2 channel(s) at 50.0 Hz" in out and "alphabet of" in out
    assert "too few" in out  # 4 recordings cannot be split into train, validation and test
    assert main(["check", str(src), "--json"]) == 0
    health = json.loads(capsys.readouterr().out)
    assert health["stats"]["recordings"] == 4 and "too_few" in health["counts"]
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"widths": "x"}))
    assert main(["check", str(src), "--config", str(cfg)]) == 2  # a bad config: named, no traceback
    assert "widths" in capsys.readouterr().err
