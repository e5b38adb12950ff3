"""`konstrukt train/compare --executor ray` on a real local Ray cluster (`ray start --head`)."""
from __future__ import annotations

import json

import pytest

import konstrukt
from konstrukt.cli import main

pytestmark = pytest.mark.scale

FLAGS = ["--pipeline", "scratch_cnn", "--epochs", "2", "--cv", "2", "--target-size", "0", "--image-size", "32"]


def test_cli_train_on_ray_gives_the_report_a_local_run_gives(ray_cluster, digits, tmp_path, capsys):
    code = main(["train", str(digits), "--out", str(tmp_path / "ray-run"), *FLAGS, "--json",
                 "--executor", "ray", "--ray-address", ray_cluster, "--storage-url", str(tmp_path / "store")])
    assert code == 0
    out = capsys.readouterr()
    printed = json.loads(out.out)
    assert "2 folds as parallel Ray tasks" in out.err  # the CV folds ran as tasks of their own
    on_ray = json.loads((tmp_path / "ray-run" / "report.json").read_text())
    assert printed == on_ray
    local = konstrukt.train(digits, out=tmp_path / "local-run", pipeline="scratch_cnn", verbose=False,
                            overrides={"num_epochs": 2, "cv": 2, "target_size": 0, "image_size": 32}).report

    def shape(value):  # the report's structure: keys all the way down, list lengths of fixed things
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k not in ("files", "source", "versions")}
        return type(value).__name__ if not isinstance(value, list) else "list"

    assert shape(on_ray) == shape(local)
    # Same data, split and seed: the same examples in each split and the same CV folds.
    assert on_ray["data"]["per_split"] == local["data"]["per_split"]
    assert on_ray["data"]["fingerprint"] == local["data"]["fingerprint"]
    assert on_ray["cv"]["folds_fingerprint"] == local["cv"]["folds_fingerprint"]
    # ... and the folds, run apart and met again, score as they do one after another here.
    assert [f["accuracy"] for f in on_ray["cv"]["per_fold"]] == [f["accuracy"] for f in local["cv"]["per_fold"]]
    files = {p.name for p in (tmp_path / "ray-run").iterdir()}
    assert {"model.safetensors", "report.json", "config.json", "curves.png"} <= files
    run = konstrukt.load_run(tmp_path / "ray-run")  # the run folder came back whole: it predicts
    unseen = sorted((digits.parent / "digits_new" / "one").iterdir())[:2]
    assert len(run.predict(unseen)) == 2
    assert not list((tmp_path / "store").rglob("*.png"))  # the staged data and run were cleaned up


def test_cli_train_on_ray_keeps_user_errors_clear(ray_cluster, tmp_path, capsys):
    bad = tmp_path / "bad"
    (bad / "cat").mkdir(parents=True)
    (bad / "dog").mkdir()
    (bad / "cat" / "a.png").write_bytes(b"not a png")
    (bad / "dog" / "b.png").write_bytes(b"not a png either")
    code = main(["train", str(bad), "--out", str(tmp_path / "out"), *FLAGS, "--executor", "ray",
                 "--ray-address", ray_cluster, "--storage-url", str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err and "Traceback" not in err
    assert "a.png" in err and "/tmp/konstrukt-" not in err  # the remote scratch folder is not shown
    assert not (tmp_path / "out").exists()


def test_cli_compare_on_ray_spreads_its_pipelines_as_tasks(ray_cluster, digits, tmp_path, capsys):
    code = main(["compare", str(digits), "--out", str(tmp_path / "cmp"), "--pipelines", "scratch_cnn,scratch_cnn:mlp",
                 "--epochs", "1", "--cv", "2", "--target-size", "0", "--image-size", "32", "--json",
                 "--executor", "ray", "--ray-address", ray_cluster, "--storage-url", str(tmp_path / "store")])
    assert code == 0
    out = capsys.readouterr()
    assert "2 pipelines as parallel Ray tasks" in out.err
    board = json.loads(out.out)
    rows = {r["name"]: r for r in board["rows"] if r["kind"] == "pipeline"}
    assert set(rows) == {"scratch_cnn", "scratch_cnn:mlp"}
    assert all(r["status"] == "ok" and len(r["cv_scores"]) == 2 for r in rows.values())
    assert len({r["folds_fingerprint"] for r in rows.values()}) == 1  # the same folds for both
    assert (tmp_path / "cmp" / "leaderboard.json").is_file()
    for row in rows.values():  # each run folder came back from its task whole
        assert konstrukt.load_run(tmp_path / "cmp" / row["run"]).report["pipeline"] == "scratch_cnn"
