"""The audio wing's part of sequence runs (``Modality.sequence``): decoding a clip whole (mono,
16 kHz) and the log-mel front end of the audio networks (:class:`LogMel`, 10-ms frames, then
per-recording standardisation) with the mel bins as the feature channels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...models.portable.audio_nets import LogMel, standardise
from ...sequences.hooks import SequenceHooks
from .preprocess import decode_audio

RATE = 16000


def read(path: Path, rate: float | None) -> tuple[np.ndarray, float]:
    """(1, T) mono float32 at ``rate`` (default 16 kHz)."""
    rate = int(rate or RATE)
    return decode_audio(path, rate)[None].astype(np.float32), float(rate)


class MelFrontEnd(nn.Module):
    """(B, 1, T) waveform → (B, n_mels, frames) standardised log-mel (100 frames per second)."""

    def __init__(self, channels: int, rate: float, n_mels: int = 64):
        super().__init__()
        self.hop = int(rate) // 100
        self.logmel = LogMel(int(rate), n_fft=512 if rate <= 16000 else 1024, win_length=int(rate) // 40,
                             hop_length=self.hop, n_mels=n_mels)
        self.out_channels, self.fps = n_mels, rate / self.hop  # frames per second out

    def fit(self, arrays: list[np.ndarray]) -> None:
        """Nothing to learn: every recording is standardised on its own (levels differ by microphone)."""

    def frames(self, length: int) -> int:
        return max(length, self.logmel.n_fft // 2 + 1) // self.hop + 1  # torch.stft, centred

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return standardise(self.logmel(x.mean(dim=1)))[:, 0]  # (B, M, frames)


def hooks() -> SequenceHooks:
    return SequenceHooks(read=read, frontend=MelFrontEnd, default_rate=RATE, feature_mask=8, noun="clip")
