"""Image backbones' networks: the small scratch CNN and normalised torchvision/Lite trunks.

Self-contained (torch; torchvision only when a torchvision trunk is built): konstrukt's image
backbones are these classes (with the registry contract added), and exported bundles carry this
file verbatim, so training, ``predict.py`` and the ONNX graph run the same code.
"""
import torch
from torch import nn



class ScratchCNN(nn.Module):
    """A small 4-stage CNN that trains from scratch on a CPU in seconds (the offline default)."""

    def __init__(self, in_channels=3, widths=(16, 32, 64, 128)):
        super().__init__()
        stages, prev = [], in_channels
        for w in widths:
            stages.append(nn.Sequential(
                nn.Conv2d(prev, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = prev

    def forward(self, x):  # x: (B, C, H, W) in [0, 1]
        x = (x - 0.5) / 0.25  # (B, C, H, W), roughly centred
        return self.pool(self.stages(x)).flatten(1)  # (B, D)


class Normalised(nn.Module):
    """``model`` (its classifier removed) on input normalised with a fixed mean/std.

    mean/std are constants (not in the state dict): konstrukt keeps them beside the weights."""

    def __init__(self, model, mean, std, num_features=None):
        super().__init__()
        self.model = model
        self.num_features = num_features
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):  # x: (B, 3, H, W) in [0, 1]
        return self.model((x - self.mean) / self.std)  # (B, D)


def torchvision_trunk(arch, model=None):
    """torchvision ``arch`` (built without weights unless ``model`` is given) minus its classifier."""
    if model is None:
        import torchvision

        model = getattr(torchvision.models, arch)(weights=None)
    # ResNets end in `fc`, EfficientNet/MobileNet in `classifier`
    setattr(model, "fc" if hasattr(model, "fc") else "classifier", nn.Identity())
    return model
