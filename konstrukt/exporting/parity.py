"""Parity: the exported model against the PyTorch model, on held-out samples of the run.

Held-out samples are the run's test split files; when they are gone, a fresh seeded sample of
the training files (said so in the record). Every export fails loudly when fp32 top-1 agreement is
below 100 % or max |Δlogit| exceeds 1e-3, or INT8 agreement is below 97 %.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, RunError

FP32_MAX_DIFF = 1e-3
FP32_MIN_AGREEMENT = 1.0
INT8_MIN_AGREEMENT = 0.97  # below: the export fails
INT8_TARGET_AGREEMENT = 0.99  # below: the exporter tries keeping more layers in float first
MAX_SAMPLES = 64


def _existing(files: list[Path]) -> list[Path]:
    # windows of one long recording list its file once per window: check each file once
    return [f for f in dict.fromkeys(files) if f.is_file()]


def held_out_files(run, samples: str | Path | None = None, limit: int = MAX_SAMPLES) -> tuple[list[Path], str]:
    """(files, where they come from): --samples, the test split, or a sample of the training files."""
    if samples is not None:
        from ..data import discover

        files = [s.path for s in discover(samples, run.report["task"]).samples]
        return files[:limit], f"given samples ({Path(samples).name})"
    test = _existing(run.data_files("test"))
    if test:
        return test[:limit], "test split"
    pool = _existing(run.data_files("train") + run.data_files("val"))
    if pool:
        random.Random(0).shuffle(pool)
        return pool[:limit], "sample of the training files (the test split is gone)"
    raise RunError("no held-out files of this run can be found to check the export's parity",
                   ["Fix: pass --samples FOLDER (labelled like the training data, or any files of the "
                    "task in class folders)."])


def calibration_files(run, limit: int = 64) -> list[Path]:
    """Training files for static INT8 calibration (seeded sample)."""
    pool = _existing(run.data_files("train"))
    random.Random(1).shuffle(pool)
    return pool[:limit]


def model_inputs(run, files: list[Path], unpadded: bool = False) -> list[np.ndarray]:
    """Each file's model inputs as the run prepares them (clean, no augmentation); a long
    recording the modality cuts into windows gives each window."""
    from ..models.portable.audio_transformers import valid_lengths

    inputs, problems = [], []
    for f in files:
        try:
            xs = [run.pre.tensor(raw) for raw in run._inputs(Path(f))]
        except DataError as exc:
            problems.append(exc.message)
            continue
        for x in xs:
            if unpadded:  # wav2vec2's graph takes the waveform without its zero padding
                x = x[: int(valid_lengths(x[None])[0])]
            inputs.append(x.numpy())
    if problems and not inputs:
        raise DataError("none of the held-out files can be read", problems)
    return inputs


@torch.inference_mode()
def torch_logits(model, inputs: list[np.ndarray], unpadded: bool = False, batch: int = 16) -> np.ndarray:
    model = model.eval()
    if unpadded:
        return np.concatenate([model(torch.from_numpy(x)[None]).float().numpy() for x in inputs])
    return np.concatenate([model(torch.from_numpy(np.stack(inputs[i:i + batch]))).float().numpy()
                           for i in range(0, len(inputs), batch)])


def compare(reference: np.ndarray, other: np.ndarray) -> dict:
    """Max |Δlogit| and top-1 agreement of two (N, C) logit arrays."""
    return {"n": int(reference.shape[0]),
            "max_abs_logit_diff": float(np.abs(reference - other).max()) if reference.size else 0.0,
            "top1_agreement": float((reference.argmax(1) == other.argmax(1)).mean()) if reference.size else 1.0}


def check_fp32(what: str, result: dict) -> None:
    if result["top1_agreement"] < FP32_MIN_AGREEMENT or result["max_abs_logit_diff"] > FP32_MAX_DIFF:
        raise RunError(f"{what} does not match the PyTorch model: top-1 agreement "
                       f"{100 * result['top1_agreement']:.1f} % (needs 100 %), max |Δlogit| "
                       f"{result['max_abs_logit_diff']:.2e} (needs ≤ {FP32_MAX_DIFF:g}) on {result['n']} samples",
                       ["Nothing was written. Fix: export --format bundle, and report this model."])


def check_int8(result: dict) -> None:
    if result["top1_agreement"] < INT8_MIN_AGREEMENT:
        raise RunError(f"the INT8 model agrees with the PyTorch model on only "
                       f"{100 * result['top1_agreement']:.1f} % of {result['n']} held-out samples "
                       f"(needs ≥ {100 * INT8_MIN_AGREEMENT:.0f} %)",
                       ["Nothing was written. Fix: use --format onnx (fp32) for this model."])
