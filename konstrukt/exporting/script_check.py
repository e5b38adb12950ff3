"""Run a generated PyTorch predict script's model on parity inputs — in a process of its own.

The exporter must run the script it wrote (that is the parity check), but never inside its own
process: the service exports inside the server, and whatever the script does on import stays in
a child process that starts in the bundle's staging folder and ends with the check. The child gets
the inputs as an ``.npz`` and writes its logits to another; nothing is unpickled either way.

``python -m konstrukt.exporting.script_check FOLDER SCRIPT INPUTS.npz OUT.npy [--unpadded]``
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from ..errors import RunError

TIMEOUT_S = 600.0  # a big model on a slow CPU; a hung script must not hold an export forever


def script_logits(folder: Path, script: str, inputs: list[np.ndarray], unpadded: bool) -> np.ndarray:
    """Logits (N, C) of ``folder/script``'s ``load_model()`` on ``inputs``, computed in a child process."""
    with tempfile.TemporaryDirectory(prefix="konstrukt-parity-") as tmp:
        given, out = Path(tmp) / "inputs.npz", Path(tmp) / "logits.npy"
        np.savez(given, *inputs)
        cmd = [sys.executable, "-m", "konstrukt.exporting.script_check", str(folder), script, str(given), str(out)]
        cmd += ["--unpadded"] if unpadded else []
        try:
            done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S,
                                  env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        except subprocess.TimeoutExpired:
            raise RunError(f"the generated {script} did not finish its parity check in {TIMEOUT_S:.0f} s",
                           ["Nothing was written. Fix: export --format onnx, and report this model."]) from None
        if done.returncode != 0 or not out.is_file():
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RunError(f"the generated {script} failed its parity check: {last}",
                           ["Nothing was written. Fix: export --format onnx, and report this model."])
        return np.load(out, allow_pickle=False)


def _load_script(folder: Path, script: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location("predict", folder / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    from .parity import torch_logits

    parser = argparse.ArgumentParser(prog="konstrukt.exporting.script_check", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("script")
    parser.add_argument("inputs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--unpadded", action="store_true")
    args = parser.parse_args(argv)
    with np.load(args.inputs, allow_pickle=False) as npz:
        inputs = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    model = _load_script(args.folder, args.script).load_model()
    np.save(args.out, torch_logits(model, inputs, args.unpadded))


if __name__ == "__main__":
    main()
