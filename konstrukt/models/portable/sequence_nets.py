"""Sequence (CTC) networks: a front end → [per-frame MLP] → residual CNN blocks [+ SE] →
[BiLSTM / BiGRU / Transformer] → a per-frame linear head → log_softmax over tokens + blank 0.

Self-contained (torch and numpy): konstrukt's sequence runs build these classes
(:mod:`konstrukt.sequences.models` adds the variant names, the config errors and SpecAugment), and
exported sequence bundles carry this file verbatim after ``signal_nets.py`` and ``audio_nets.py``,
so ``predict_torch.py`` runs the very network konstrukt trained.

Front ends (the modality's part, chosen by name from the bundle's config.json):
``SignalFrontEnd`` — per-channel standardisation with the training data's mean/std (buffers saved
with the weights), then, above ~100 Hz, a strided conv (no norm: amplitude passes);
``MelFrontEnd`` — the audio networks' log-mel (10-ms frames), standardised per recording.
"""
import math

import numpy as np
import torch
from torch import nn

try:  # in konstrukt; a bundle pastes signal_nets.py and audio_nets.py above this module instead
    from .audio_nets import LogMel, standardise
    from .signal_nets import Recurrent, ResBlock, TransformerTail
except ImportError:
    pass

SIGNAL_FRAMES_PER_SECOND = 100  # what enters the residual blocks (each then halves it)


class SignalFrontEnd(nn.Module):
    """(B, C, T) raw → standardised per channel → [strided stem] → (B, F, T')."""

    def __init__(self, channels: int, rate: float, stem_width: int = 64):
        super().__init__()
        self.stride = max(1, int(rate // SIGNAL_FRAMES_PER_SECOND))
        self.register_buffer("mean", torch.zeros(1, channels, 1))
        self.register_buffer("std", torch.ones(1, channels, 1))
        self.stem = nn.Identity()
        self.out_channels, self.fps = channels, rate / self.stride  # frames per second out
        if self.stride > 1:
            s = self.stride
            self.stem = nn.Sequential(nn.Conv1d(channels, stem_width, 2 * s + 1, stride=s, padding=s),
                                      nn.ReLU(inplace=True))
            self.out_channels = stem_width

    def fit(self, arrays) -> None:
        """Per-channel mean / std of the training recordings (a list of (C, T) arrays)."""
        cat = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1).astype(np.float64)
        self.mean.copy_(torch.from_numpy(cat.mean(axis=1)).float().view(1, -1, 1))
        self.std.copy_(torch.from_numpy(np.maximum(cat.std(axis=1), 1e-6)).float().view(1, -1, 1))

    def frames(self, length: int) -> int:
        return math.ceil(length / self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return self.stem((x - self.mean) / self.std)


class MelFrontEnd(nn.Module):
    """(B, C, T) waveform → mono → (B, n_mels, frames) standardised log-mel (100 frames per second)."""

    def __init__(self, channels: int, rate: float, n_mels: int = 64):
        super().__init__()
        self.hop = int(rate) // 100
        self.logmel = LogMel(int(rate), n_fft=512 if rate <= 16000 else 1024, win_length=int(rate) // 40,
                             hop_length=self.hop, n_mels=n_mels)
        self.out_channels, self.fps = n_mels, rate / self.hop  # frames per second out

    def fit(self, arrays) -> None:
        """Nothing to learn: every recording is standardised on its own (levels differ by microphone)."""

    def frames(self, length: int) -> int:
        return max(length, self.logmel.n_fft // 2 + 1) // self.hop + 1  # torch.stft, centred

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return standardise(self.logmel(x.mean(dim=1)))[:, 0]  # (B, M, frames)


FRONTENDS = {"SignalFrontEnd": SignalFrontEnd, "MelFrontEnd": MelFrontEnd}


class SequenceNet(nn.Module):
    """(B, C, T) raw recordings → (B, T', V) per-frame log-probabilities (V = tokens + blank 0).

    ``temporal``: none, lstm, gru or transformer; ``mask``: a module applied to the (B, 1, F, T')
    features (SpecAugment while training; none in a bundle).
    """

    def __init__(self, frontend: nn.Module, vocab: int, *, cnn: bool = True, temporal: str = "lstm",
                 mlp: bool = True, dropout: float = 0.0, se: bool = False, widths=(64, 128),
                 hidden_size: int = 128, layers: int = 2, heads: int = 4, kernel_size: int = 9,
                 mask: nn.Module = None):
        super().__init__()
        self.frontend, self.vocab = frontend, vocab
        self.mask = mask if mask is not None else nn.Identity()
        prev = frontend.out_channels
        self.mlp = nn.Identity()
        if mlp:  # per-frame MLP (the study's 480-unit MLP over each frame's features)
            self.mlp = nn.Sequential(nn.Conv1d(prev, 480, 1), nn.ReLU(inplace=True), nn.Dropout(dropout))
            prev = 480
        blocks = []
        for w in widths if cnn else ():
            blocks.append(ResBlock(prev, w, kernel_size, dropout, se))
            prev = w
        self.blocks = nn.Sequential(*blocks)
        self.temporal = None
        if temporal in ("lstm", "gru"):
            self.temporal = Recurrent(temporal, prev, hidden_size, layers, dropout)
        elif temporal == "transformer":
            self.temporal = TransformerTail(prev, hidden_size, layers, heads, max(dropout, 0.1))
        # the CNN's frames beside the temporal model's (as the classifier family does): the head
        # sees both, so the recurrent / attention part adds context without hiding the CNN
        out = prev + (self.temporal.out_channels if self.temporal is not None else 0)
        self.head = nn.Conv1d(out, vocab, 1)  # per-frame linear head

    def frames(self, length: int) -> int:
        """Output frames for a recording of ``length`` samples (each block halves, rounding up)."""
        n = self.frontend.frames(int(length))
        for _ in self.blocks:
            n = math.ceil(n / 2)
        return int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, T) raw
        h = self.frontend(x)  # (B, F, T')
        h = self.mask(h[:, None])[:, 0]  # SpecAugment (time / feature stripes) while training
        h = self.blocks(self.mlp(h))  # (B, W, T'')
        if self.temporal is not None:
            h = torch.cat([h, self.temporal(h)], dim=1)  # (B, W + T, T'')
        return torch.log_softmax(self.head(h).transpose(1, 2).float(), dim=-1)  # (B, T'', V)
