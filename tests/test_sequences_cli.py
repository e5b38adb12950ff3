"""`konstrukt train LABELS.csv` with a text column makes a sequence run; evaluate and predict --json."""
from __future__ import annotations

import json

import numpy as np
import pytest

from konstrukt.cli import main
from konstrukt.runtime import torch_threads

from sequence_data import write_sequences, write_tone_clips


def test_cli_train_evaluate_predict_json_on_a_text_csv(tmp_path, capsys):
    labels = write_sequences(tmp_path / "data", n=18, subjects=6)
    cfg = tmp_path / "seq.json"
    cfg.write_text(json.dumps({"widths": [8], "hidden_size": 8, "pipeline": "rescnn+gru"}), encoding="utf-8")
    run = tmp_path / "run"
    with torch_threads(1):
        assert main(["train", str(labels), "--out", str(run), "--config", str(cfg), "--epochs", "2",
                     "--cv", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "CER" in out and "cross-validation (2 folds)" in out and "konstrukt predict" in out
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["kind"] == "sequence" and report["pipeline"] == "rescnn+gru" and report["task"] == "signal"
    # every subject's recordings sit in one split
    assert sum(report["groups"].values()) == 6

    assert main(["evaluate", str(run), str(labels), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["kind"] == "sequence" and metrics["n"] == 18 and "cer" in metrics and "worst" in metrics

    files = sorted((tmp_path / "data").glob("*.npz"))[:2]
    assert main(["predict", str(run), *map(str, files), "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert [set(p) for p in preds] == [{"file", "text", "confidence"}] * 2
    assert main(["predict", str(run), str(files[0])]) == 0
    assert "confidence" in capsys.readouterr().out


def test_cli_refuses_classification_flags_and_tasks_without_sequences(tmp_path, capsys):
    labels = write_sequences(tmp_path / "data", n=6)
    assert main(["train", str(labels), "--out", str(tmp_path / "r"), "--strategy", "probe"]) == 2
    assert "`strategy` is not used by sequence runs" in capsys.readouterr().err
    assert main(["train", str(labels), "--out", str(tmp_path / "r"), "--task", "image"]) == 2
    assert "no sequence runs" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_keystroke_csv_is_cut_into_windows(tmp_path):
    """`file,time,key`: a long recording, windows of 2 s every 1 s, each with the keys inside."""
    from konstrukt.sequences.data import read_text_csv
    from konstrukt.sequences.dataset import load
    from konstrukt.sequences.config import SequenceConfig

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "long.npz", data=rng.normal(size=(2, 500)).astype(np.float32), fs=50.0)  # 10 s
    rows = "\n".join(f"long.npz,{t},{k}" for t, k in [(0.5, "a"), (1.2, "b"), (4.0, "c"), (9.5, "d")])
    (tmp_path / "keys.csv").write_text("file,time,key\n" + rows + "\n", encoding="utf-8")
    assert read_text_csv(tmp_path / "keys.csv")[0] == "keys"
    loaded = load(tmp_path / "keys.csv", SequenceConfig(window=2.0, hop=1.0))
    assert [e.text for e in loaded.examples][:5] == ["ab", "b", "", "c", "c"]
    assert all(x.shape == (2, 100) for x in loaded.arrays)
    assert loaded.task == "signal" and loaded.warnings  # windows without keys are said


def test_cli_compare_runs_named_variants_on_the_same_folds(tmp_path, capsys):
    labels = write_sequences(tmp_path / "data", n=12, subjects=4)
    cfg = tmp_path / "seq.json"
    cfg.write_text(json.dumps({"widths": [8], "hidden_size": 8, "heads": 2}), encoding="utf-8")
    out = tmp_path / "cmp"
    with torch_threads(1):
        assert main(["compare", str(labels), "--out", str(out), "--pipelines", "rescnn,cnn_transformer",
                     "--config", str(cfg), "--epochs", "1", "--cv", "2", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| rescnn |" in text and "| cnn_transformer |" in text and "lowest cross-validation CER" in text
    board = json.loads((out / "leaderboard.json").read_text(encoding="utf-8"))
    assert [r["pipeline"] for r in board["rows"]] == ["rescnn", "cnn_transformer"]
    assert board["recommendation"]["pipeline"] in ("rescnn", "cnn_transformer")
    assert (out / "leaderboard.png").is_file() and (out / "runs" / "cnn_transformer" / "report.json").is_file()
    folds = [json.loads((out / "runs" / n / "report.json").read_text(encoding="utf-8"))["cv"]["folds"]
             for n in ("rescnn", "cnn_transformer")]
    assert [f["n"] for f in folds[0]] == [f["n"] for f in folds[1]]  # the same held-out examples per fold


def test_audio_clips_train_through_the_log_mel_front_end(tmp_path):
    """wav files with a text column: the `sound` task, 16 kHz log-mel frames, predict gives text."""
    from konstrukt.sequences.run import train_sequences

    write_tone_clips(tmp_path)
    with torch_threads(1):
        run = train_sequences(tmp_path / "labels.csv", out=tmp_path / "run", verbose=False,
                              config={"num_epochs": 2, "cv": 0, "widths": [8], "hidden_size": 8, "pipeline": "rescnn",
                                      "frontend": "mel"})
    assert run.report["task"] == "sound" and run.report["sample_rate"] == 16000 and run.report["channels"] == 1
    assert run.report["alphabet"]["tokens"] == ["a", "b"]
    pred = run.predict([tmp_path / "c0.wav"])[0]
    assert set(pred["text"]) <= {"a", "b"} and 0 < pred["confidence"] <= 1
