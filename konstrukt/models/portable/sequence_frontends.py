"""More front ends of sequence (CTC) networks for signals: frozen, training-free MiniRocket
features per frame, and the sEMG study's spectrogram with its rotation-invariant multi-band MLP.

Self-contained (torch and numpy): konstrukt's signal wing builds these classes, and exported
sequence bundles carry this file verbatim after ``sequence_nets.py`` and ``minirocket.py`` (its
``FRONTENDS`` then extends theirs), so ``predict_torch.py`` runs the very front end konstrukt
trained. Every fitted value is a buffer, saved with the weights.

``MiniRocketFrontEnd`` — per-channel standardisation, MiniRocket's 84 fixed kernels at a few
dilations convolved over the whole recording (the kernels of ``minirocket.py``, its channel
subsets and its quantile biases fitted on training windows), then the proportion of positive
values of each (kernel, dilation, bias) over a sliding window centred on each frame: a frame's
features are the MiniRocket features of the window around it, standardised with the training
frames' mean / std. No weight is learned (``frozen``: a run computes the features once per file).

``EmgSpectrogramFrontEnd`` — per-channel log-power spectrogram (the study's 32-sample window,
16-sample hop at 2 kHz, scaled to the rate) normalised per channel and frequency with the training
data's statistics, then the study's rotation-invariant MLP: the electrode channels rolled by
-1, 0, +1 positions, one shared MLP over each rolling, the results averaged.
"""
import math

import numpy as np
import torch
from torch import nn

try:  # in konstrukt; a bundle pastes minirocket.py and sequence_nets.py above this module instead
    from .minirocket import MINIROCKET_KERNELS, MiniRocket
    from .sequence_nets import FRONTENDS, FrozenFrontEnd
except ImportError:
    pass


BIAS_MARGIN = 1e-3  # on standardised inputs, whose kernel outputs spread over units


def _channel_stats(arrays):
    """Per-channel mean and std (floored) of a list of (C, T) arrays, as (1, C, 1) tensors."""
    cat = np.concatenate([a.reshape(a.shape[0], -1) for a in arrays], axis=1).astype(np.float64)
    mean = torch.from_numpy(cat.mean(axis=1)).float().view(1, -1, 1)
    return mean, torch.from_numpy(np.maximum(cat.std(axis=1), 1e-6)).float().view(1, -1, 1)


class MiniRocketFrontEnd(FrozenFrontEnd):
    """(B, C, T) raw → (B, F, T') standardised per-frame MiniRocket features (F = 84 × biases).
    Frozen: no trainable weight, so training computes its output once per file."""

    def __init__(self, channels: int, rate: float, window: int = 0, hop: int = 0, num_features: int = 1008,
                 max_dilations: int = 8, seed: int = 0):
        super().__init__()
        self.channels, self.rate, self.seed = int(channels), float(rate), int(seed)
        self.num_features, self.max_dilations, self.fixed = int(num_features), int(max_dilations), int(window)
        self.register_buffer("size", torch.zeros(2, dtype=torch.long))  # (window, hop) in samples, saved
        # until fit() sizes it by the training texts: half a second, at least 32 samples (slow sensors)
        self._build(int(window) or max(32, 2 * round(rate / 4)), int(hop))
        self.register_buffer("mean", torch.zeros(1, channels, 1))
        self.register_buffer("std", torch.ones(1, channels, 1))
        self.out_channels = self.rocket.num_features  # 84 × biases per kernel, whatever the window
        self.register_buffer("feature_mean", torch.zeros(1, self.out_channels, 1))
        self.register_buffer("feature_std", torch.ones(1, self.out_channels, 1))

    def _build(self, window: int, hop: int = 0) -> None:
        """MiniRocket for windows of ``window`` samples (even: centred), a frame every ``hop``
        (default: 8 frames per window)."""
        self.window = max(10, int(window) + int(window) % 2)
        self.hop = int(hop) or max(1, self.window // 8)
        self.rocket = MiniRocket(self.channels, self.window, self.num_features, self.max_dilations)
        self.size.copy_(torch.tensor([self.window, self.hop]))
        self.fps = self.rate / self.hop  # frames per second out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        size = state_dict.get(prefix + "size")  # the window fit() chose: rebuild before loading into it
        if size is not None and (int(size[0]), int(size[1])) != (self.window, self.hop):
            self._build(int(size[0]), int(size[1]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def frames(self, length: int) -> int:
        return (int(length) + 2 * (self.window // 2) - self.window) // self.hop + 1

    def ppv(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features: the share of each window's outputs above each bias, (B, F, T')."""
        x = (x - self.mean) / self.std
        feats, start = [], 0
        for j, (dilation, count) in enumerate(zip(self.rocket.dilations, self.rocket.features_per_dilation)):
            out = self.rocket._convolve(x, j, dilation)  # (B, 84, T), zero-padded at the file's ends
            biases = self.rocket.biases[start:start + MINIROCKET_KERNELS * count].view(1, MINIROCKET_KERNELS, count, 1)
            above = (out.unsqueeze(2) > biases).to(out.dtype).flatten(1, 2)  # (B, 84·count, T)
            feats.append(nn.functional.avg_pool1d(above, self.window, self.hop, padding=self.window // 2,
                                                  count_include_pad=False))
            start += MINIROCKET_KERNELS * count
        return torch.cat(feats, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return (self.ppv(x) - self.feature_mean) / self.feature_std

    def size_by(self, arrays, token_counts=None) -> None:
        """The window (unless given at construction): the examples' mean samples per token, within
        32 … 4096 samples. Cheap: data health calls it to ask ``frames`` what training will give."""
        if token_counts is not None and not self.fixed and sum(token_counts) > 0:
            spoken = [(a.shape[1], n) for a, n in zip(arrays, token_counts) if n > 0]
            per = sum(t for t, _ in spoken) / sum(n for _, n in spoken)  # samples per token
            # tokens shorter than the 32-sample floor still get ~8 frames each (a hop of per / 8):
            # else two CNN blocks leave too few frames per token for CTC
            self._build(min(4096, max(32, round(per))), max(1, round(per / 8)) if per < 32 else 0)

    @torch.no_grad()
    def fit(self, arrays, token_counts=None, max_files: int = 256) -> None:
        """The window (unless given): the training examples' mean samples per token (a window
        about one event long), within 32 … 4096 samples; channel statistics, MiniRocket's
        channel subsets and biases (from training windows), then the features' mean / std over the
        training frames (at most ``max_files`` recordings)."""
        self.size_by(arrays, token_counts)
        mean, std = _channel_stats(arrays)
        self.mean.copy_(mean)
        self.std.copy_(std)
        rng = np.random.RandomState(self.seed)
        picks = rng.permutation(len(arrays))[:max_files]
        windows = []
        for i in picks:
            a = (torch.from_numpy(np.asarray(arrays[i], np.float32)) - mean[0]) / std[0]
            if a.shape[1] < self.window:
                a = nn.functional.pad(a, (0, self.window - a.shape[1]))
            windows.append(a.unfold(1, self.window, max(1, self.window // 2)).permute(1, 0, 2))  # (N, C, W)
        windows = torch.cat(windows)
        windows = windows[torch.from_numpy(rng.permutation(len(windows))[:4096])]
        self.rocket.channel_mask.copy_(self.rocket._draw_channels(self.seed))
        # a hair above each quantile: a flat stretch's outputs (zero up to rounding) and tied values
        # then fall on one side of their bias in every runtime (ONNX sums in another order)
        self.rocket.biases.copy_(self.rocket._fit_biases(windows, self.seed) + BIAS_MARGIN)
        total = torch.zeros(self.out_channels, dtype=torch.float64)
        square, n = torch.zeros_like(total), 0
        for i in picks:
            f = self.ppv(torch.from_numpy(np.asarray(arrays[i], np.float32))[None])[0].double()  # (F, T')
            total, square, n = total + f.sum(1), square + (f * f).sum(1), n + f.shape[1]
        m = total / max(n, 1)
        s = (square / max(n, 1) - m * m).clamp(min=0).sqrt()
        self.feature_mean.copy_(m.float().view(1, -1, 1))
        self.feature_std.copy_(torch.where(s > 1e-3, s, torch.ones_like(s)).float().view(1, -1, 1))


class EmgSpectrogramFrontEnd(nn.Module):
    """(B, C, T) raw → per-channel log spectrogram, normalised per (channel, frequency) with the
    training data's statistics → rotation-invariant MLP over the channels → (B, hidden, T')."""

    def __init__(self, channels: int, rate: float, hidden: int = 384, offsets=(-1, 0, 1)):
        super().__init__()
        self.n_fft = max(8, 2 * round(16 * rate / 2000))  # the study: 32 samples at 2 kHz (16 ms)
        self.hop = max(1, self.n_fft // 2)
        self.bins, self.channels, self.offsets = self.n_fft // 2 + 1, channels, tuple(offsets)
        # a real DFT of Hann-windowed frames as one strided conv (portable; exports to ONNX)
        n, k = torch.arange(self.n_fft, dtype=torch.float64), torch.arange(self.bins, dtype=torch.float64)[:, None]
        angle, hann = 2 * math.pi * k * n / self.n_fft, torch.hann_window(self.n_fft, dtype=torch.float64)
        self.register_buffer("dft", torch.cat([torch.cos(angle), torch.sin(angle)]).mul(hann)[:, None].float())
        self.register_buffer("mean", torch.zeros(1, channels, self.bins, 1))
        self.register_buffer("std", torch.ones(1, channels, self.bins, 1))
        # one MLP shared by every rolling of the electrodes (a band of electrodes around the wrist)
        self.mlp = nn.Sequential(nn.Linear(channels * self.bins, hidden), nn.LayerNorm(hidden), nn.ReLU(inplace=True))
        self.out_channels, self.fps = hidden, rate / self.hop

    def frames(self, length: int) -> int:
        return max(int(length) - self.n_fft, 0) // self.hop + 1

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T) → (B, C, bins, T') log power, frames of ``n_fft`` samples every ``hop``."""
        if x.shape[-1] < self.n_fft:
            x = nn.functional.pad(x, (0, self.n_fft - x.shape[-1]))
        out = nn.functional.conv1d(x.reshape(-1, 1, x.shape[-1]), self.dft, stride=self.hop)  # (B·C, 2·bins, T')
        out = out.reshape(x.shape[0], self.channels, 2, self.bins, out.shape[-1])
        return torch.log(out[:, :, 0] ** 2 + out[:, :, 1] ** 2 + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        s = (self.spectrogram(x) - self.mean) / self.std  # (B, C, bins, T')
        outs = [self.mlp(torch.roll(s, o, dims=1).flatten(1, 2).transpose(1, 2)) for o in self.offsets]
        return torch.stack(outs).mean(0).transpose(1, 2)  # (B, hidden, T')

    @torch.no_grad()
    def fit(self, arrays, max_files: int = 256) -> None:
        """Mean / std of every (channel, frequency) log power over the training frames."""
        specs = [self.spectrogram(torch.from_numpy(np.asarray(a, np.float32))[None])[0].double()
                 for a in arrays[:max_files]]
        cat = torch.cat(specs, dim=-1)  # (C, bins, sum T')
        self.mean.copy_(cat.mean(-1)[None, :, :, None].float())
        self.std.copy_(cat.std(-1, unbiased=False).clamp(min=1e-3)[None, :, :, None].float())


FRONTENDS = {**FRONTENDS, "MiniRocketFrontEnd": MiniRocketFrontEnd, "EmgSpectrogramFrontEnd": EmgSpectrogramFrontEnd}
