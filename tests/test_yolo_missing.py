"""Without the optional extra konstrukt[yolo] (Ultralytics), a YOLO name — in a saved run or a
config — says how to install it instead of "unknown backbone". Ultralytics is hidden from a fresh
interpreter (``sys.modules['ultralytics'] = None``), so this runs whether or not it is installed."""
from __future__ import annotations

import subprocess
import sys

import pytest

from konstrukt.errors import ConfigError
from konstrukt.registry import Registry

HIDDEN = "import sys; sys.modules['ultralytics'] = None\n"


def test_an_unavailable_entry_names_its_fix_and_is_not_listed():
    reg: Registry[int] = Registry("thing")
    reg.add("a", 1)
    reg.add_unavailable("b", "needs the extra x", "Fix: pip install x")
    with pytest.raises(ConfigError, match="thing 'b' needs the extra x") as err:
        reg.get("b")
    assert err.value.problems == ["Fix: pip install x"]
    assert reg.names() == ["a"] and "b" not in reg
    with pytest.raises(ConfigError, match="unknown thing 'c'; available: a"):
        reg.get("c")


def test_yolo_names_without_ultralytics_say_pip_install_konstrukt_yolo():
    code = HIDDEN + (
        "from konstrukt.errors import ConfigError\n"
        "from konstrukt.modalities import register_all\n"
        "register_all()\n"
        "from konstrukt.models.backbones import BACKBONES\n"
        "from konstrukt.pipelines import PIPELINES\n"
        "assert 'yolo11n_cls' not in BACKBONES.names() and 'yolo11s_cls' not in PIPELINES.names()\n"
        "for reg in (BACKBONES, PIPELINES):\n"
        "    for name in ('yolo11n_cls', 'yolo11s_cls'):\n"
        "        try:\n"
        "            reg.get(name)\n"
        "        except ConfigError as exc:\n"
        "            print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("pip install 'konstrukt[yolo]'") == 4
    assert "backbone 'yolo11n_cls' needs Ultralytics" in done.stdout
    assert "pipeline 'yolo11s_cls' needs Ultralytics" in done.stdout and "unknown" not in done.stdout
