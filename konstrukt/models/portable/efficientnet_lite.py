"""EfficientNet-Lite0, exactly as Google's TensorFlow Lite models define it.

Self-contained (torch only): konstrukt uses it, and an exported bundle's predict.py carries this
file's source verbatim. Module names follow the PyTorch port (lukemelas' EfficientNet naming:
``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_depthwise_conv`` / ``_project_conv``,
``_conv_head``, ``_bn1``, ``_fc``), so its published ImageNet state dict loads with strict=True.

What makes Lite different from EfficientNet-B0: ReLU6 instead of swish, no squeeze-and-excitation,
fixed stem (32) and head (1280) widths. The weights are a TensorFlow port, so stride-2 convolutions
pad TensorFlow's "SAME" way (the odd extra pixel goes bottom/right) and batch norm uses eps 1e-3.
The network takes normalised input: the weights expect (x - 127) / 128 on 0..255 pixels, i.e.
mean 127/255 and std 128/255 on [0, 1] images (see ``MEAN`` / ``STD``).

Pasted into predict.py beside other code, so its global names stay distinct from that code's (no
``F`` alias: predict.py's ``F`` is torchvision's transforms).
"""
import math

import torch
from torch import nn

MEAN = (127.0 / 255.0,) * 3  # on [0, 1] pixels: (x * 255 - 127) / 128
STD = (128.0 / 255.0,) * 3
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's batch-norm defaults (momentum 0.99 in TF terms)
# One row per stage: (repeats, kernel, stride, expand ratio, in channels, out channels).
LITE0_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
                (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))


def _bn(channels):
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _same_pad(size, kernel, stride):
    """(before, after) padding of TensorFlow's SAME for one spatial axis of ``size`` pixels."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d (odd kernel, stride 1 or 2) with TensorFlow's SAME padding for any input size.

    Stride 1: symmetric, the convolution pads k // 2 itself. Stride 2 on an even side: SAME puts one
    pixel more after the image than before, so only that pixel is padded explicitly and the rest
    is left to the convolution (one small pad instead of a padded copy on every side).
    """

    def __init__(self, cin, cout, kernel, stride=1, groups=1):
        if kernel % 2 == 0 or stride not in (1, 2):
            raise ValueError(f"SameConv2d takes an odd kernel and stride 1 or 2, got {kernel}, {stride}")
        super().__init__(cin, cout, kernel, stride, padding=kernel // 2, groups=groups, bias=False)

    def forward(self, x):  # (B, C, H, W)
        if self.stride[0] == 1:
            return super().forward(x)
        top, bottom = _same_pad(x.shape[-2], self.kernel_size[0], 2)
        left, right = _same_pad(x.shape[-1], self.kernel_size[1], 2)
        if bottom > top or right > left:
            x = nn.functional.pad(x, (0, right - left, 0, bottom - top))  # keeps channels-last
        return nn.functional.conv2d(x, self.weight, None, self.stride, (top, left), self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise k x k -> 1x1 project, ReLU6, skip when shapes match."""

    def __init__(self, cin, cout, kernel, stride, expand):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):  # (B, Cin, H, W) -> (B, Cout, H / stride, W / stride)
        h = nn.functional.relu6(self._bn0(self._expand_conv(x)), inplace=True) if self.expand else x
        h = nn.functional.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return h + x if self.residual else h


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite (Lite0 by default). ``num_classes=0``: forward returns the pooled features."""

    def __init__(self, num_classes=1000, stages=LITE0_STAGES, stem=32, head=1280, dropout=0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, stem, 3, stride=2)
        self._bn0 = _bn(stem)
        blocks, self.stage_sizes = [], []
        for repeats, kernel, stride, expand, cin, cout in stages:
            for i in range(repeats):  # the first block of a stage changes width and stride
                blocks.append(MBConvBlock(cin if i == 0 else cout, cout, kernel, stride if i == 0 else 1, expand))
            self.stage_sizes.append(repeats)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(stages[-1][-1], head, 1, bias=False)
        self._bn1 = _bn(head)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(head, num_classes) if num_classes else None
        self.num_features = head

    def features(self, x):  # (B, 3, H, W) normalised -> (B, head) global-average-pooled
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)), inplace=True)  # (B, head, H / 32, W / 32)
        return x.mean(dim=(2, 3))

    def forward(self, x):  # (B, 3, H, W) normalised -> (B, num_classes) logits, or (B, head)
        x = self.features(x)
        return x if self._fc is None else self._fc(self._dropout(x))

    def stages(self):
        """Stem, the seven stages, head: the units partial fine-tuning unfreezes from the end."""
        out, start = [nn.ModuleList([self._conv_stem, self._bn0])], 0
        for n in self.stage_sizes:
            out.append(nn.ModuleList(self._blocks[start:start + n]))
            start += n
        return out + [nn.ModuleList([self._conv_head, self._bn1])]
