"""Export: a trained run leaves konstrukt as a bundle (PyTorch), ONNX fp32 or ONNX INT8.

    import konstrukt
    konstrukt.export("runs/fruit", "fruit-bundle.zip", format="all")

The package is ``exporting`` so that it never shadows the function ``konstrukt.export``.

Modules: :mod:`.writer` (the export itself), :mod:`.onnx` (export and quantisation),
:mod:`.parity` (the checks), :mod:`.templates` (generated predict.py), :mod:`.card` (README.md),
:mod:`.bundle` (the format, and loading bundles back), :mod:`.hooks` (the records a modality's
export hooks return: what differs per modality lives in ``konstrukt/modalities/<name>/export.py``).
"""
from __future__ import annotations

from .writer import FORMATS, export

__all__ = ["export", "FORMATS"]

