"""The server's and the worker's log: konstrukt's own lines at INFO, libraries' chatter left out.

With the root logger at INFO, the ONNX exporter's tools (onnxscript, onnx_ir, torch.onnx) log
every optimiser pass of every export (14 lines a bundle) and Alembic logs its plugins and
migration context at every start; none of it is for the person reading the log. Their warnings
and errors still show.
"""
from __future__ import annotations

import logging

QUIET = ("onnxscript", "onnx_ir", "torch.onnx", "alembic")  # loggers kept at WARNING


def configure_logging(fmt: str) -> None:
    """INFO for konstrukt in ``fmt``; the libraries in :data:`QUIET` only at WARNING and above."""
    logging.basicConfig(level=logging.INFO, format=fmt)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
