"""The image modality's export: its model-card words (the graph needs nothing beyond the defaults:
normalisation runs inside the backbone, INT8 is static and calibrated)."""
from __future__ import annotations


def describe(pre: dict) -> str:
    """The saved preprocessing settings in the model card's words."""
    return f"RGB image resized to {pre['size']} × {pre['size']}, scaled to [0, 1]"
