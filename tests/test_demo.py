"""`konstrukt demo` works offline on a fresh install and says where everything went."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_trains_evaluates_and_predicts_images_and_sounds_offline(tmp_path):
    exe = Path(sys.executable).with_name("konstrukt")
    result = subprocess.run([str(exe), "demo", "--out", str(tmp_path / "demo"), "--quiet"],
                            capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "test (held out)" in out and "predictions on digits the model never saw" in out
    assert "predictions on sounds the model never saw" in out
    assert (tmp_path / "demo" / "image_run" / "report.json").is_file()
    assert (tmp_path / "demo" / "sound_run" / "report.json").is_file()
    assert len(list((tmp_path / "demo" / "data" / "digits").iterdir())) == 10
    assert all(len(list(d.iterdir())) == 15 for d in (tmp_path / "demo" / "data" / "digits").iterdir())
    import json

    report = json.loads((tmp_path / "demo" / "image_run" / "report.json").read_text())
    assert report["test"]["accuracy"] >= 0.6  # real digits, a real model: far above 0.1 chance
    sound = json.loads((tmp_path / "demo" / "sound_run" / "report.json").read_text())
    assert sound["task"] == "sound" and sound["test"]["accuracy"] >= 0.6
    signal = json.loads((tmp_path / "demo" / "signal_run" / "report.json").read_text())
    assert "predictions on recordings of 2 unseen subjects the model never saw" in out
    assert signal["task"] == "signal" and signal["test"]["accuracy"] >= 0.6  # 4 gestures: chance 0.25
