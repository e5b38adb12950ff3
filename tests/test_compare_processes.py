"""Compare: heads on one frozen backbone train side by side in forked processes (Linux, CPU)."""
import multiprocessing
import os
import sys

import pytest

import konstrukt
from konstrukt.cli import main

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked pipelines: Linux only")

HEADS = ["efficientnet_b0", "efficientnet_b0:mlp", "efficientnet_b0:mlp_bn"]
SMALL = {"pretrained": "none", "num_epochs": 2, "target_size": 8, "batch_size": 8, "image_size": 32, "cv": 2}


def scores(board: dict) -> dict:
    return {r["name"]: (r["status"], r.get("cv_scores"), r.get("test_accuracy"), r.get("params_total"))
            for r in board["rows"]}


def test_heads_in_processes_score_exactly_as_one_after_another(image_data, tmp_path, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "cache"))
    events = []
    forked = konstrukt.compare(image_data, pipelines=HEADS, out=tmp_path / "forked", overrides=SMALL,
                               progress=events.append, verbose=False, processes=2)
    alone = konstrukt.compare(image_data, pipelines=HEADS, out=tmp_path / "alone", overrides=SMALL,
                              verbose=False, processes=1)
    assert scores(forked) == scores(alone)
    assert all(r["status"] == "ok" for r in forked["rows"])
    assert forked["recommendation"]["name"] == alone["recommendation"]["name"]
    assert any(e.get("parallel") == 2 for e in events if e["stage"] == "compare")
    # each child's progress reached the caller, tagged with its pipeline
    assert {e["pipeline"] for e in events if e["stage"] == "cv"} == set(HEADS)
    for row in forked["rows"][:3]:  # a normal run folder each, latency measured here
        run = konstrukt.load_run(forked["out"] + "/" + row["run"])
        assert run.report["cv"]["per_fold"] and row["latency_ms"] > 0 and row["peak_memory_mb"] > 0
    assert not multiprocessing.active_children()


def test_a_pipeline_whose_process_dies_fails_alone(image_data, tmp_path, monkeypatch):
    import konstrukt.experiment as experiment

    real = experiment.run_experiment

    def dies(prepared, progress, fold_runner=None):
        if prepared.config.head == "mlp":
            os._exit(3)  # killed: out of memory, a segfault …
        return real(prepared, progress, fold_runner)

    monkeypatch.setattr(experiment, "run_experiment", dies)
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "cache"))
    board = konstrukt.compare(image_data, pipelines=HEADS, out=tmp_path / "cmp", overrides=SMALL,
                              verbose=False, processes=2)
    rows = {r["name"]: r for r in board["rows"]}
    assert rows["efficientnet_b0:mlp"]["status"] == "failed"
    assert "exit code 3" in rows["efficientnet_b0:mlp"]["reason"]
    assert rows["efficientnet_b0"]["status"] == rows["efficientnet_b0:mlp_bn"]["status"] == "ok"
    assert not (tmp_path / "cmp" / "runs" / "efficientnet_b0-mlp").exists()


class Stop(BaseException):
    """What the service's cancel raises from a progress callback."""


def test_a_cancel_stops_every_pipeline_process(image_data, tmp_path, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "cache"))

    def cancel(event):
        if event["stage"] == "cv":  # a child is training
            raise Stop()

    with pytest.raises(Stop):
        konstrukt.compare(image_data, pipelines=HEADS, out=tmp_path / "cmp", overrides=SMALL,
                          progress=cancel, verbose=False, processes=2)
    assert not multiprocessing.active_children()
    assert not (tmp_path / "cmp").exists()  # nothing half-written is left


def test_processes_must_be_positive(image_data, tmp_path, capsys):
    code = main(["compare", str(image_data), "--pipelines", "efficientnet_b0", "--pretrained", "none",
                 "--out", str(tmp_path / "cmp"), "--processes", "0", "--quiet"])
    assert code == 2 and "processes must be at least 1" in capsys.readouterr().err


def test_each_warning_shows_once_however_many_pipelines(image_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "cache"))
    (image_data / "circle" / "notes.txt").write_text("taken on a Tuesday")
    events = []
    # two backbones: two groups, each reads the data (and used to say its warnings again)
    konstrukt.compare(image_data, pipelines=["scratch_cnn", "efficientnet_b0"], out=tmp_path / "c",
                      overrides={**SMALL, "num_epochs": 1}, progress=events.append, verbose=False, processes=2)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert sum("notes.txt" in w for w in warnings) == 1 and len(warnings) == len(set(warnings)), warnings
    said = [e["message"] for e in events if e["stage"] == "warning"]
    assert len(said) == len(set(said))


def test_a_progress_says_a_warning_once():
    from konstrukt.progress import Progress

    events = []
    parent = Progress(events.append, verbose=False)
    child = Progress(events.append, verbose=False, said=parent.said)
    parent.warn("1 file skipped")
    child.warn("1 file skipped")
    child.warn("another")
    assert [e["message"] for e in events] == ["1 file skipped", "another"]
