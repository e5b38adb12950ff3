"""Export: a trained run leaves konstrukt as a bundle (PyTorch), ONNX fp32 or ONNX INT8.

    import konstrukt
    konstrukt.export("runs/fruit", "fruit-bundle.zip", format="all")

Modules: :mod:`.writer` (the export itself), :mod:`.onnx` (export and quantisation),
:mod:`.parity` (the checks), :mod:`.templates` (generated predict.py), :mod:`.card` (README.md),
:mod:`.bundle` (the format, and loading bundles back), :mod:`.hooks` (the records a modality's
export hooks return: what differs per modality lives in ``konstrukt/modalities/<name>/export.py``).
"""
from __future__ import annotations

import sys
import types

from .writer import FORMATS, export

__all__ = ["export", "FORMATS"]


class _CallableModule(types.ModuleType):
    """``konstrukt.export(...)`` stays a call after this package is imported (the package then
    shadows the function of the same name in ``konstrukt/__init__.py``)."""

    def __call__(self, run, out, format="bundle", **kwargs):
        return export(run, out, format, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
