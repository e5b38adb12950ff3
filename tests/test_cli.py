"""The command line: same library underneath, friendly output, exit code 2 and no traceback on bad input."""
import json
import os
import subprocess
import sys

import pytest

from konstrukt.cli import main

FAST_FLAGS = ["--pipeline", "scratch_cnn", "--epochs", "2", "--target-size", "8", "--image-size", "16",
              "--cv", "0", "--quiet"]


def konstrukt_cli(*args, cwd=None):
    """Run the installed console script as a user would."""
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "konstrukt"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env={**os.environ})


def test_train_evaluate_predict_round_trip(image_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(image_data), "--out", str(run), *FAST_FLAGS]) == 0
    out = capsys.readouterr().out
    assert "test (held out)" in out and "run folder:" in out

    assert main(["evaluate", str(run), str(image_data), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 18 and "per_class" in metrics

    files = sorted(image_data.rglob("*.png"))[:2]
    assert main(["predict", str(run), *map(str, files), "--top-k", "2", "--json"]) == 0
    preds = json.loads(capsys.readouterr().out)
    assert [p["file"] for p in preds] == [str(f) for f in files]
    assert all(set(p) == {"file", "label", "probabilities", "unsure"} and len(p["probabilities"]) == 2 for p in preds)
    assert abs(sum(json.loads(json.dumps(preds))[0]["probabilities"].values()) - 1) < 0.5

    assert main(["predict", str(run), str(files[0])]) == 0
    assert files[0].name in capsys.readouterr().out


def test_config_file_with_classic_keys_and_flag_override(image_data, tmp_path, capsys):
    cfg = tmp_path / "hyperparams.json"
    cfg.write_text(json.dumps({"num_epochs": 3, "learning_rate": 1e-3, "batch_size": 4, "weight_decay": 0}))
    run = tmp_path / "run"
    flags = [f for f in FAST_FLAGS]
    flags[flags.index("--epochs") + 1] = "1"
    assert main(["train", str(image_data), "--out", str(run), "--config", str(cfg), *flags, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["num_epochs"] == 1 and report["config"]["batch_size"] == 4
    assert report["config"]["learning_rate"] == 1e-3


@pytest.mark.parametrize("case", ["missing", "one_class", "bad_config", "unwritable", "corrupt",
                                  "not_a_run", "offline_weights"])
def test_bad_input_exits_2_with_a_message_and_no_traceback(image_data, tmp_path, case):
    import shutil

    data, out, extra = image_data, tmp_path / "run", []
    if case == "missing":
        data = tmp_path / "nope"
    elif case == "one_class":
        shutil.rmtree(image_data / "square")
        shutil.rmtree(image_data / "stripes")
    elif case == "bad_config":
        (tmp_path / "c.json").write_text(json.dumps({"optimizer": "adamx", "num_epochs": -3}))
        extra = ["--config", str(tmp_path / "c.json")]
    elif case == "unwritable":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "run"
    elif case == "corrupt":
        (image_data / "circle" / "bad.jpg").write_text("not an image")
    if case == "not_a_run":
        result = konstrukt_cli("predict", tmp_path, image_data / "circle" / "circle_0.png")
    elif case == "offline_weights":
        result = konstrukt_cli("train", data, "--out", out, "--pipeline", "efficientnet_b0", "--quiet")
    else:
        flags = [f for f in FAST_FLAGS if case != "bad_config" or f not in ("--epochs", "2")]
        result = konstrukt_cli("train", data, "--out", out, *flags, *extra)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error:")
    expected = {"missing": "data not found", "one_class": "at least 2", "bad_config": "`optimizer.name`",
                "unwritable": "cannot write the run folder", "corrupt": "bad.jpg",
                "not_a_run": "not a konstrukt run folder",
                "offline_weights": "Fix: train with a pipeline that needs no download: `--pipeline auto` "
                                   "(here: `efficientnet_lite0` or `scratch_cnn`)"}[case]
    assert expected in result.stderr
    assert "--pretrained none" not in result.stderr  # not EfficientNet-B0 from scratch on a CPU
    assert not out.exists()


def test_help_teaches_layouts_pipelines_and_examples():
    result = konstrukt_cli("train", "--help")
    assert result.returncode == 0
    for text in ("DATA/train/<class>", "efficientnet_b7", "scratch_cnn", "--strategy", "examples:"):
        assert text in result.stdout


def test_pipelines_command_lists_the_recommended_one(capsys):
    assert main(["pipelines"]) == 0
    out = capsys.readouterr().out
    assert "efficientnet_b0" in out and "(auto" in out and "offline default" in out
    # what auto uses on this machine, and which recipes cannot train here (offline: no hub weights)
    assert "auto on this machine:" in out and "(recommended; weights not on this machine)" in out


def test_the_cli_lists_the_exporters_formats_without_importing_it():
    import subprocess
    import sys

    from konstrukt.cli.runs import EXPORT_FORMATS
    from konstrukt.exporting.writer import FORMATS

    assert EXPORT_FORMATS == FORMATS
    code = ("import sys; from konstrukt.modalities import register_all; register_all(); "
            "from konstrukt.cli import build_parser; build_parser(); print('konstrukt.exporting' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # building the parser does not import the exporter (seconds of start-up)


def test_check_warns_about_files_it_skips_as_train_does(image_data, tmp_path, capsys):
    (image_data / "circle" / "notes.txt").write_text("shot on a Tuesday")
    try:
        assert main(["check", str(image_data), "--quiet"]) == 0
        out = capsys.readouterr().out
        assert "warning: skipped 1 file that is not an image file" in out and "circle/notes.txt" in out
        assert main(["check", str(image_data), "--quiet", "--json"]) == 0
        assert any("notes.txt" in w for w in json.loads(capsys.readouterr().out)["warnings"])
    finally:
        (image_data / "circle" / "notes.txt").unlink()
