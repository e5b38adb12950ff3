"""Sequence (CTC) networks: a front end → [per-frame MLP] → residual CNN blocks [+ SE] →
[BiLSTM / BiGRU / Transformer] → a per-frame linear head → log_softmax over tokens + blank 0.

Self-contained (torch and numpy): konstrukt's sequence runs build these classes
(:mod:`konstrukt.sequences.models` adds the variant names, the config errors and SpecAugment), and
exported sequence bundles carry this file verbatim after ``signal_nets.py`` and ``audio_nets.py``,
so ``predict_torch.py`` runs the very network konstrukt trained.

Front ends (the modality's part, chosen by name from the bundle's config.json):
``SignalFrontEnd`` — per-channel standardisation with the training data's mean/std (buffers saved
with the weights), then, above ~100 Hz, a strided conv (no norm: amplitude passes);
``MelFrontEnd`` — the audio networks' log-mel (10-ms frames), standardised per recording;
``SpeechEmbeddingFrontEnd`` — Google's speech embedding (``speech_embedding.py``, pasted above this
module in bundles that use it), frozen: one 96-d vector per 80 ms, standardised per dimension with
the training frames' mean/std.
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
try:  # the speech-embedding front end's network (a bundle pastes speech_embedding.py above)
    from .speech_embedding import DIM, MIN_SAMPLES, SpeechEmbedding, output_frames
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


class FrozenFrontEnd(nn.Module):
    """A front end that learns nothing (fixed or pretrained features): training computes its output
    once per recording instead of every epoch (:mod:`konstrukt.sequences.frozen`), through
    :meth:`cached_features`. A front end that keeps a cache of its own overrides that method."""

    def cached_features(self, array: np.ndarray) -> np.ndarray:
        """One (C, T) recording's (F, T') features, as ``forward`` gives them (here: its forward
        pass on that one recording, on the device of the front end's buffers)."""
        first = next(self.buffers(), None)
        x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))[None]
        with torch.no_grad():
            return self(x.to(first.device) if first is not None else x)[0].float().cpu().numpy()


class SpeechEmbeddingFrontEnd(FrozenFrontEnd):
    """(B, C, T) 16-kHz waveform → mono → Google's speech embedding, frozen → (B, 96, T') at 12.5
    frames per second, standardised per dimension with the training frames' mean / std (buffers).

    Each embedding frame sees ~0.78 s of sound, so the waveform gets ``pad_seconds`` of silence at
    both ends (and up to one second in all, as the model needs): the first and last frames are then
    centred near the recording's edges, and a digit spoken at the very start still gets frames.
    Frozen: training computes these features once per recording (no gradient reaches them), cached
    by content so CV folds share them.
    The weights come with the run's own weights file; ``load_weights`` (a callable, set by konstrukt
    when it trains) fills them from the original model in :meth:`fit`.
    """

    backbone = "speech_embedding"  # whose weights (source, licence) a bundle names
    portable = ("speech_embedding",)  # the modules a bundle pastes above this one

    def __init__(self, channels: int, rate: float, pad_seconds: float = 0.375):
        super().__init__()
        if int(rate) != 16000:
            raise ValueError(f"the speech-embedding front end takes 16 kHz audio, not {rate:g} Hz")
        self.embedding = SpeechEmbedding().requires_grad_(False)
        self.pad = int(pad_seconds * rate)
        self.register_buffer("mean", torch.zeros(1, DIM, 1))
        self.register_buffer("std", torch.ones(1, DIM, 1))
        self.out_channels, self.fps = DIM, rate / 1280  # one frame per 80 ms
        self.load_weights = None  # konstrukt sets it for training; a bundle's weights are in its file
        self.cache = None  # {key: (96, T') raw features}: training reads each recording once
        self.eval()

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: the BatchNorm statistics never move

    def frames(self, length: int) -> int:
        return int(output_frames(torch.tensor(max(int(length) + 2 * self.pad, MIN_SAMPLES))))

    def embed(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T) → (B, 96, T'), not standardised
        wave = x.mean(dim=1)
        zeros = wave.new_zeros(wave.shape[0], MIN_SAMPLES)
        wave = torch.cat([zeros[:, :self.pad], wave, zeros[:, :self.pad]], dim=1)
        wave = torch.cat([wave, zeros[:, wave.shape[1]:]], dim=1)  # one second at least (traceable)
        with torch.no_grad():
            return self.embedding.frames(wave).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return (self.embed(x) - self.mean) / self.std

    def raw_features(self, array: np.ndarray) -> np.ndarray:
        """One (C, T) recording's (96, T') embedding frames, not standardised (cached by content)."""
        key = None
        if self.cache is not None:
            import hashlib
            key = (array.shape, hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest())
        raw = self.cache.get(key) if key is not None else None
        if raw is None:
            x = torch.from_numpy(np.ascontiguousarray(array, np.float32))[None].to(self.mean.device)
            raw = self.embed(x)[0].float().cpu().numpy()
            if key is not None:
                self.cache[key] = raw
        return raw

    def cached_features(self, array: np.ndarray) -> np.ndarray:
        """One (C, T) recording's standardised (96, T') features: what ``forward`` gives, from the
        content-keyed cache of :meth:`raw_features`."""
        mean, std = self.mean[0].cpu().numpy(), self.std[0].cpu().numpy()
        return ((self.raw_features(array) - mean) / std).astype(np.float32)

    def fit(self, arrays) -> None:
        """The original weights (when konstrukt trains), then the per-dimension mean / std of the
        training recordings' frames."""
        if self.load_weights is not None:
            self.load_weights(self.embedding)
        cat = np.concatenate([self.raw_features(a) for a in arrays], axis=1).astype(np.float64)  # (96, N)
        self.mean.copy_(torch.from_numpy(cat.mean(axis=1)).float().view(1, -1, 1))
        self.std.copy_(torch.from_numpy(np.maximum(cat.std(axis=1), 1e-3)).float().view(1, -1, 1))


FRONTENDS = {"SignalFrontEnd": SignalFrontEnd, "MelFrontEnd": MelFrontEnd,
             "SpeechEmbeddingFrontEnd": SpeechEmbeddingFrontEnd}


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
        h = self.frontend(x)  # (B, F, T') front-end features
        h = self.mask(h[:, None])[:, 0]  # SpecAugment (time / feature stripes) while training
        h = self.blocks(self.mlp(h))  # (B, W, T'')
        if self.temporal is not None:
            h = torch.cat([h, self.temporal(h)], dim=1)  # (B, W + T, T'')
        return torch.log_softmax(self.head(h).transpose(1, 2).float(), dim=-1)  # (B, T'', V)
