"""Signal networks: a window (B, C, L) in, an embedding (B, D) out (see konstrukt.models.signal).

Self-contained (torch only): konstrukt's signal backbones are these classes (with the registry
contract added), and exported bundles carry this file verbatim. :func:`raw_input` gives a network
that takes raw windows and standardises them per channel inside (what a bundle's model does;
konstrukt standardises in its preprocessor).
"""
import math

import torch
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, L) tensor, at every time step."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class SqueezeExcite(nn.Module):
    """Channel attention: scale each channel by a gate computed from its mean over time."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.gate = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L)
        return x * self.gate(x.mean(dim=2)).unsqueeze(2)


class ResBlock(nn.Module):
    """conv → norm → ReLU → dropout → conv → norm [→ SE] + skip (1×1 if widths differ) → ReLU → pool."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dropout: float, se: bool):
        super().__init__()
        pad = kernel // 2
        self.body = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad, bias=False), ChannelNorm(c_out),
            nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False), ChannelNorm(c_out),
            SqueezeExcite(c_out) if se else nn.Identity())
        self.skip = nn.Conv1d(c_in, c_out, 1, bias=False) if c_in != c_out else nn.Identity()
        self.out = nn.Sequential(nn.ReLU(inplace=True), nn.MaxPool1d(2, ceil_mode=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, L) → (B, C_out, ⌈L/2⌉)
        return self.out(self.body(x) + self.skip(x))


class Recurrent(nn.Module):
    """Bidirectional LSTM/GRU over time; (B, C, L) → (B, 2H, L)."""

    def __init__(self, kind: str, c_in: int, hidden: int, layers: int, dropout: float):
        super().__init__()
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = rnn(c_in, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                       dropout=dropout if layers > 1 else 0.0)
        self.out_channels = 2 * hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x.transpose(1, 2))  # (B, L, 2H)
        return y.transpose(1, 2)


class TransformerTail(nn.Module):
    """1×1 projection to ``width``, sinusoidal positions, Transformer encoder; (B, C, L) → (B, W, L)."""

    def __init__(self, c_in: int, width: int, layers: int, heads: int, dropout: float):
        super().__init__()
        if width % heads:
            raise ValueError(f"hidden_size ({width}) must be a multiple of heads ({heads})")
        self.proj = nn.Conv1d(c_in, width, 1)
        layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_channels = width

    @staticmethod
    def positions(length: int, width: int, device) -> torch.Tensor:
        pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (L, 1)
        freq = torch.exp(torch.arange(0, width, 2, device=device, dtype=torch.float32)
                         * (-math.log(10000.0) / width))  # (W/2,)
        pe = torch.zeros(length, width, device=device)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
        return pe  # (L, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.proj(x).transpose(1, 2)  # (B, L, W)
        h = h + self.positions(h.shape[1], h.shape[2], h.device)
        return self.encoder(h).transpose(1, 2)  # (B, W, L)


class ResCNN(nn.Module):
    """Residual 1-D CNN [+ SE] [+ BiLSTM / BiGRU / Transformer] → mean+max pool → (B, D)."""

    def __init__(self, in_channels: int = 1, widths: tuple[int, ...] = (32, 64, 64, 128),
                 kernel_size: int = 9, dropout: float = 0.2, se: bool = False, temporal: str = "none",
                 hidden_size: int = 64, layers: int = 2, heads: int = 4, temporal_dropout: float | None = None,
                 stride: int = 1):
        super().__init__()
        blocks, prev = [], in_channels
        # A strided conv stem shortens long windows (compute scales with length); 1: none.
        self.stem: nn.Module = nn.Identity()
        if stride > 1:
            # No norm here: a LayerNorm over the channels at each step would divide out the
            # amplitude (a strong fist and a resting arm then look alike); the blocks' identity
            # skips carry it on. (Demo: test accuracy 0.5 with it, fist and rest confused.)
            self.stem = nn.Sequential(nn.Conv1d(in_channels, widths[0], 2 * stride + 1, stride=stride,
                                                padding=stride), nn.ReLU(inplace=True))
            prev = widths[0]
        for w in widths:
            blocks.append(ResBlock(prev, w, kernel_size, dropout, se))
            prev = w
        self.stages = nn.Sequential(*blocks)
        tdrop = dropout if temporal_dropout is None else temporal_dropout
        self.temporal: nn.Module | None = None
        if temporal in ("lstm", "gru"):
            self.temporal = Recurrent(temporal, prev, hidden_size, layers, tdrop)
        elif temporal == "transformer":
            self.temporal = TransformerTail(prev, hidden_size, layers, heads, tdrop)
        elif temporal != "none":
            raise ValueError(f"unknown temporal model {temporal!r}; use none, lstm, gru or transformer")
        out = prev + (self.temporal.out_channels if self.temporal is not None else 0)
        self.num_features = 2 * out  # mean and max over time

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, L), standardised
        h = self.stages(self.stem(x))  # (B, W, L')
        if self.temporal is not None:
            h = torch.cat([h, self.temporal(h)], dim=1)  # (B, W + T, L'): CNN features kept beside
        return torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)  # (B, D)


def raw_input(network):
    """A subclass of ``network`` (first argument ``in_channels``) that takes raw windows: per-channel
    mean/std, constants kept beside the weights, standardise the window before the network."""

    class RawInput(network):
        def __init__(self, in_channels=1, *args, **kwargs):
            super().__init__(in_channels, *args, **kwargs)
            self.register_buffer("mean", torch.zeros(1, in_channels, 1), persistent=False)
            self.register_buffer("std", torch.ones(1, in_channels, 1), persistent=False)

        def forward(self, x):  # (B, C, L) raw window
            return super().forward((x - self.mean) / self.std)

    RawInput.__name__ = RawInput.__qualname__ = f"RawInput{network.__name__}"
    return RawInput
