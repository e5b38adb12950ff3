"""The classifier around a backbone: a head built from layer specs (plain dicts), then logits.

Self-contained (torch only): konstrukt builds its heads with this, and exported bundles carry this
file verbatim, so a bundle's head is the trained one by construction.
"""
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "elu": nn.ELU, "selu": nn.SELU,
               "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "none": None}


def build_head(blocks, in_features, num_classes):
    """Linear(units) → [BatchNorm1d] → activation → [Dropout] per block, then Linear(C).

    ``blocks``: dicts with ``units`` and optional ``activation``, ``dropout``, ``batchnorm``."""
    layers = []
    width = in_features
    for block in blocks:
        layers.append(nn.Linear(width, block["units"]))
        if block.get("batchnorm"):
            layers.append(nn.BatchNorm1d(block["units"]))
        act = ACTIVATIONS[block.get("activation", "relu")]
        if act is not None:
            layers.append(act())
        if block.get("dropout", 0) > 0:
            layers.append(nn.Dropout(block["dropout"]))
        width = block["units"]
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class Classifier(nn.Module):
    """``backbone`` (input → (B, D)) then ``head`` ((B, D) → (B, C) logits)."""

    def __init__(self, backbone, head):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x):
        return self.head(self.backbone(x))  # (B, C)
