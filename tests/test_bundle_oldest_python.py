"""A bundle's requirements.txt installs, and its predict.py runs, on the oldest Python konstrukt
supports (pyproject's requires-python) — where that Python is on this machine (CI's matrix)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OLDEST = re.search(r'requires-python\s*=\s*">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text()).group(1)


def oldest_python() -> str | None:
    """An interpreter of the oldest supported version that runs: on PATH, pyenv's or uv's."""
    pyenv = Path(subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
                 if shutil.which("pyenv") else "~/.pyenv").expanduser()
    candidates = [shutil.which(f"python{OLDEST}"), *map(str, sorted(pyenv.glob(f"versions/{OLDEST}*/bin/python{OLDEST}")))]
    if shutil.which("uv"):
        candidates.append(subprocess.run(["uv", "python", "find", OLDEST], capture_output=True, text=True).stdout.strip())
    for python in filter(None, candidates):  # a pyenv shim may name a version it will not run
        ran = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True)
        if ran.returncode == 0 and ran.stdout.strip() == OLDEST:
            return python
    return None


PYTHON = oldest_python()
# slow: a fresh venv and a real `pip install` (from the package index) on that Python
pytestmark = [pytest.mark.slow, pytest.mark.skipif(PYTHON is None, reason=f"no Python {OLDEST} on this machine")]


def test_onnx_bundle_installs_and_predicts_on_the_oldest_python(tmp_path):
    import konstrukt
    from tests.conftest import write_images

    data = write_images(tmp_path / "data", per_class=6)
    run = konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run", verbose=False,
                          config={"num_epochs": 1, "target_size": 6, "image_size": 16, "cv": 0})
    konstrukt.export(run, tmp_path / "bundle", format="onnx")
    venv = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    py = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(tmp_path / "bundle" / "requirements.txt")],
                         capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr[-2000:]
    one = sorted((data / "circle").iterdir())[0]
    out = subprocess.run([str(py), "predict.py", str(one), "--json"], cwd=tmp_path / "bundle",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)[0]["label"] in run.classes
