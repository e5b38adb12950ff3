"""Training end to end through the library: artifacts, report, reload, predict, evaluate, cache."""
import json

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.embeddings import default_cache_dir
from konstrukt.errors import DataError, RunError

REPORT_KEYS = {"task", "pipeline", "classes", "test", "cv", "history", "train_seconds",
               "peak_memory_mb", "params_total", "params_trainable", "data", "config", "seed",
               "versions"}
TEST_KEYS = {"accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "precision_macro",
             "recall_macro", "f1_macro", "per_class", "confusion_matrix"}


def test_scratch_pipeline_writes_a_complete_run_and_reloads(image_data, tmp_path, fast):
    run = konstrukt.train(image_data, task="image", pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={**fast, "cv": 3}, verbose=False)
    files = {p.name for p in run.path.iterdir()}
    assert {"report.json", "config.json", "model.safetensors", "curves.png",
            "confusion_matrix.png", "summary.md"} <= files
    report = json.loads((run.path / "report.json").read_text())
    assert REPORT_KEYS <= set(report) and TEST_KEYS <= set(report["test"])
    assert set(report["test"]["per_class"]) == {"circle", "square", "stripes"}
    assert np.array(report["test"]["confusion_matrix"]).sum() == report["test"]["n"]
    assert {"folds", "accuracy_mean", "accuracy_std", "f1_macro_mean", "f1_macro_std"} <= set(report["cv"])
    assert len(report["history"]) == 2 and {"train_loss", "val_loss", "train_accuracy",
                                            "val_accuracy"} <= set(report["history"][0])
    assert report["data"]["per_split"]["train"] and len(report["data"]["fingerprint"]) == 16
    assert report["versions"]["torch"] == torch.__version__
    assert json.loads((run.path / "config.json").read_text())["num_epochs"] == 2

    again = konstrukt.load_run(run.path)
    files = sorted(image_data.rglob("*.png"))[:4]
    assert np.allclose(again.predict_proba(files), run.predict_proba(files), atol=1e-6)
    out = again.predict(files, top_k=2)
    assert out[0]["file"] == str(files[0]) and len(out[0]["probabilities"]) == 2
    assert out[0]["label"] == next(iter(out[0]["probabilities"]))
    from konstrukt.inference import UNSURE_BELOW  # one threshold for every face (#21 item 12)

    assert all(r["unsure"] == (max(r["probabilities"].values()) < UNSURE_BELOW) for r in out)
    metrics = konstrukt.evaluate(run.path, image_data)
    assert metrics["n"] == 18 and 0 <= metrics["accuracy"] <= 1


def test_training_is_reproducible_with_a_seed(image_data, tmp_path, fast):
    a = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "a", overrides=fast, verbose=False)
    b = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "b", overrides=fast, verbose=False)
    assert [h["train_loss"] for h in a.report["history"]] == [h["train_loss"] for h in b.report["history"]]


def test_scratch_model_learns_the_shapes(image_data, tmp_path, fast):
    from tests.conftest import write_images

    data = write_images(tmp_path / "more", per_class=14)
    run = konstrukt.train(data, pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={**fast, "num_epochs": 12, "target_size": 30}, verbose=False)
    assert run.report["test"]["accuracy"] >= 0.75


def test_probe_caches_embeddings_and_reuses_them(image_data, tmp_path, fast):
    opts = {**fast, "pretrained": "none", "cv": 3, "num_epochs": 3}
    konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "r1", overrides=opts, verbose=False)
    cached = sorted(default_cache_dir().rglob("*.npy"))
    views = {p.stem.rsplit("_", 1)[1] for p in cached}
    assert len(cached) >= 18 and len(views) > 1  # clean and augmented views
    mtimes = {p: p.stat().st_mtime_ns for p in cached}
    # A different head and learning rate reuse every embedding: nothing is recomputed.
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "r2",
                          overrides={**opts, "head": "mlp", "learning_rate": 1e-3}, verbose=False)
    assert {p: p.stat().st_mtime_ns for p in default_cache_dir().rglob("*.npy")} == mtimes
    assert run.report["strategy"] == "probe" and run.report["params_trainable"] < run.report["params_total"]
    assert run.predict([sorted(image_data.rglob("*.png"))[0]])[0]["label"] in run.classes


@pytest.mark.parametrize("strategy", ["head", "partial", "full"])
def test_other_strategies_train_a_pretrained_architecture(image_data, tmp_path, fast, strategy):
    run = konstrukt.train(image_data, pipeline="mobilenet_v3_small", out=tmp_path / strategy,
                          overrides={**fast, "pretrained": "none", "strategy": strategy,
                                     "num_epochs": 1, "target_size": 0}, verbose=False)
    r = run.report
    assert r["strategy"] == strategy
    if strategy == "full":
        assert r["params_trainable"] == r["params_total"]
    else:
        assert r["params_trainable"] < r["params_total"]


def test_small_data_runs_five_fold_cv_by_default(image_data, tmp_path, fast):
    from tests.conftest import write_images

    data = write_images(tmp_path / "five", per_class=8, classes=("circle", "square"))
    opts = {k: v for k, v in fast.items() if k != "cv"}
    run = konstrukt.train(data, pipeline="scratch_cnn", out=tmp_path / "run", overrides=opts, verbose=False)
    assert run.report["cv"]["folds"] == 5
    off = konstrukt.train(data, pipeline="scratch_cnn", out=tmp_path / "off",
                          overrides={**opts, "cv": 0}, verbose=False)
    assert off.report["cv"] is None


def test_presplit_data_keeps_the_given_test_split(image_data, tmp_path, fast):
    import shutil

    root = tmp_path / "given"
    for c in ("circle", "square", "stripes"):
        for i in range(6):
            split = "test" if i < 2 else "train"
            (root / split / c).mkdir(parents=True, exist_ok=True)
            shutil.copy(image_data / c / f"{c}_{i}.png", root / split / c)
    run = konstrukt.train(root, pipeline="scratch_cnn", out=tmp_path / "run", overrides=fast, verbose=False)
    test_files = run.report["data"]["files"]["test"]
    assert len(test_files) == 6 and all(f.startswith("test/") for f in test_files)


def test_progress_events_reach_the_callback(image_data, tmp_path, fast):
    events = []
    konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "run", overrides=fast,
                    progress=events.append, verbose=False)
    stages = [e["stage"] for e in events]
    assert "prepare" in stages and "train" in stages and stages[-1] == "done"
    epoch = next(e for e in events if e["stage"] == "train")
    assert {"epoch", "epochs", "train_loss", "val_loss"} <= set(epoch)
    # one overall progress over the final fit and every CV fold: it never goes back (#21 item 4)
    overall = [e["overall"] for e in events]
    assert overall == sorted(overall) and overall[-1] == 1.0 and all("eta_seconds" in e for e in events)
    plan = next(e for e in events if e["stage"] == "plan")
    assert plan["fits"] == 1 + max((e.get("folds") or 0) for e in events)
    run = konstrukt.load_run(tmp_path / "run")
    assert run.report["wall_seconds"] >= run.report["train_seconds"] > 0


def test_corrupt_file_stops_the_run_and_nothing_is_written(image_data, tmp_path, fast):
    (image_data / "circle" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (image_data / "square" / "text.jpg").write_text("hello")
    with pytest.raises(DataError) as err:
        konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "run", overrides=fast,
                        verbose=False)
    assert "broken.png" in str(err.value) and "text.jpg" in str(err.value)
    assert not (tmp_path / "run").exists()
    assert not list(tmp_path.glob(".run.*"))  # no staging folder left behind


def test_existing_run_folder_is_not_overwritten_without_consent(image_data, tmp_path, fast):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RunError, match="--overwrite"):
        konstrukt.train(image_data, pipeline="scratch_cnn", out=out, overrides=fast, verbose=False)
    assert (out / "keep.txt").read_text() == "mine"
