"""Run folders written before the one-saved-state change (#22) still load and predict the same.

The folders in tests/fixtures/old_runs were written by konstrukt at commit 0e5ca66 (see
make_old_runs.py there), with the probabilities that version predicted for the files beside them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import konstrukt

OLD = Path(__file__).parent / "fixtures" / "old_runs"
EXPECTED = json.loads((OLD / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_old_run_folders_load_and_predict_as_before(name, tmp_path):
    folder = shutil.copytree(OLD / name, tmp_path / name)  # loading must not need to write
    run = konstrukt.load_run(folder)
    files = [folder / "inputs" / f for f in EXPECTED[name]["files"]]
    got = run.predict_proba(files)
    assert np.allclose(got, np.asarray(EXPECTED[name]["probabilities"]), atol=1e-5), (got, EXPECTED[name])
    assert run.classes == json.loads((folder / "report.json").read_text())["classes"]
