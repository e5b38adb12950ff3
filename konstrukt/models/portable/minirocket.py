"""MiniRocket (Dempster, Schmidt & Webb, KDD 2021) as a torch module: training-free features of a
(B, C, L) time series window.

The transform, exactly as the reference implementation (aeon's ``MiniRocket``):

* 84 fixed kernels of length 9: weight -1 everywhere and 2 at three of the nine positions (every
  choice of three), so each kernel sums to zero;
* dilations 2^0 … (L-1)/8 on a log scale, at most ``max_dilations`` distinct ones, each with its
  share of the ~10,000 features (:func:`minirocket_dilations`);
* multivariate input: each (dilation, kernel) pair convolves the sum of a random subset of 1 … 9
  channels (a 0/1 ``channel_mask`` row);
* every (dilation, kernel) pair has several biases, quantiles of its convolution output on one
  training example (the quantile levels are the golden-ratio sequence); a feature is the
  proportion of positive values (PPV) of output − bias: over the zero-padded output for half the
  pairs, over the unpadded (valid) part for the other half (alternating with kernel and dilation).

``fit`` draws the channel subsets (seeded, in the reference's order) and the biases from training
windows, then the mean and standard deviation of every feature over those windows: ``forward``
returns standardised features, ready for a linear classifier. Every fitted value is a buffer, so a
saved state dict reloads exactly. ``forward`` is plain torch (matmul, dilated grouped conv1d,
comparison, mean), so it exports to ONNX.

Self-contained (torch; numpy for the reference's exact dilation schedule and random draws): konstrukt
uses it, and exported bundles carry this file's source verbatim.
"""
import itertools

import numpy as np
import torch
from torch import nn

MINIROCKET_KERNEL_LENGTH = 9
MINIROCKET_TRIPLES = list(itertools.combinations(range(MINIROCKET_KERNEL_LENGTH), 3))  # 84 kernels
MINIROCKET_KERNELS = len(MINIROCKET_TRIPLES)


def minirocket_dilations(length: int, num_features: int = 10_000, max_dilations: int = 32):
    """(dilations, features per dilation) for windows of ``length`` samples (aeon's schedule)."""
    per_kernel = max(num_features, MINIROCKET_KERNELS) // MINIROCKET_KERNELS
    true_max = min(per_kernel, max_dilations)
    multiplier = per_kernel / true_max
    max_exponent = np.log2((length - 1) / (MINIROCKET_KERNEL_LENGTH - 1))
    dilations, counts = np.unique(np.logspace(0, max_exponent, true_max, base=2).astype(np.int32),
                                  return_counts=True)
    counts = (counts * multiplier).astype(np.int32)
    remainder, i = per_kernel - int(counts.sum()), 0
    while remainder > 0:  # spread what rounding left over, first dilations first
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return [int(d) for d in dilations], [int(c) for c in counts]


def minirocket_quantiles(n: int) -> np.ndarray:
    """The quantile level of each of ``n`` biases: the fractional parts of k × golden ratio."""
    return np.array([(k * ((np.sqrt(5) + 1) / 2)) % 1 for k in range(1, n + 1)], dtype=np.float32)


def _ppv(out: torch.Tensor, biases: torch.Tensor) -> torch.Tensor:
    """Proportion of positive values of out − bias: (B, K, T) and (K, F) → (B, K, F)."""
    return (out.unsqueeze(2) > biases.unsqueeze(0).unsqueeze(-1)).to(out.dtype).mean(-1)


class MiniRocket(nn.Module):
    """MiniRocket features of (B, C, L) windows → (B, num_features), standardised after ``fit``."""

    def __init__(self, in_channels: int, length: int, num_features: int = 10_000, max_dilations: int = 32):
        super().__init__()
        if length < MINIROCKET_KERNEL_LENGTH:
            raise ValueError(f"MiniRocket needs windows of at least {MINIROCKET_KERNEL_LENGTH} samples, got {length}")
        self.in_channels, self.length = int(in_channels), int(length)
        self.dilations, self.features_per_dilation = minirocket_dilations(length, num_features, max_dilations)
        self.num_features = MINIROCKET_KERNELS * sum(self.features_per_dilation)
        kernels = -torch.ones(MINIROCKET_KERNELS, 1, MINIROCKET_KERNEL_LENGTH)
        for k, triple in enumerate(MINIROCKET_TRIPLES):
            kernels[k, 0, list(triple)] = 2.0
        self.register_buffer("kernels", kernels)  # (84, 1, 9)
        combinations = MINIROCKET_KERNELS * len(self.dilations)
        self.register_buffer("channel_mask", torch.ones(combinations, self.in_channels))  # (84·D, C)
        self.register_buffer("biases", torch.zeros(self.num_features))
        self.register_buffer("feature_mean", torch.zeros(self.num_features))
        self.register_buffer("feature_std", torch.ones(self.num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, L) → (B, F)
        return (self.transform(x) - self.feature_mean) / self.feature_std

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """The raw PPV features (B, F), in the reference's order: dilation, kernel, bias."""
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()) and tuple(x.shape[1:]) != (
                self.in_channels, self.length):
            raise ValueError(f"MiniRocket was fitted on windows of {self.in_channels} channel(s) × "
                             f"{self.length} samples, got {tuple(x.shape[1:])}")
        feats, start = [], 0
        for j, (dilation, count) in enumerate(zip(self.dilations, self.features_per_dilation)):
            out = self._convolve(x, j, dilation)  # (B, 84, L)
            biases = self.biases[start:start + MINIROCKET_KERNELS * count].view(MINIROCKET_KERNELS, count)
            feats.append(self._pool(out, biases, j, dilation).flatten(1))  # (B, 84·count)
            start += MINIROCKET_KERNELS * count
        return torch.cat(feats, dim=1)

    def _convolve(self, x: torch.Tensor, j: int, dilation: int) -> torch.Tensor:
        """The 84 kernels at dilation ``j`` on their channel sums: (B, C, L) → (B, 84, L).

        Summing the channels first is the same as convolving each and summing (the kernel is
        linear), with one conv channel per kernel instead of one per kernel and channel."""
        mask = self.channel_mask[j * MINIROCKET_KERNELS:(j + 1) * MINIROCKET_KERNELS]  # (84, C)
        mixed = torch.matmul(mask, x)  # (B, 84, L)
        pad = (MINIROCKET_KERNEL_LENGTH - 1) * dilation // 2
        return torch.nn.functional.conv1d(mixed, self.kernels, padding=pad, dilation=dilation,
                                          groups=MINIROCKET_KERNELS)

    def _pool(self, out: torch.Tensor, biases: torch.Tensor, j: int, dilation: int) -> torch.Tensor:
        """PPV (B, 84, count): kernels k with (j + k) even over all L outputs, the others over the
        valid part (the outputs whose receptive field lies inside the window)."""
        pad = (MINIROCKET_KERNEL_LENGTH - 1) * dilation // 2
        first = j % 2  # the first kernel pooled over the whole output
        whole = _ppv(out[:, first::2], biases[first::2])  # (B, 42, count)
        valid = _ppv(out[:, 1 - first::2, pad:self.length - pad], biases[1 - first::2])  # (B, 42, count)
        pair = [whole, valid] if first == 0 else [valid, whole]
        return torch.stack(pair, dim=2).reshape(out.shape[0], MINIROCKET_KERNELS, -1)  # kernels back in order

    @torch.no_grad()
    def fit(self, x: torch.Tensor, seed: int = 0, batch_size: int = 16) -> torch.Tensor:
        """Fit channel subsets, biases and feature statistics on training windows (N, C, L);
        returns their standardised features (N, F), which ``forward`` would give them now."""
        x = x.float()
        if tuple(x.shape[1:]) != (self.in_channels, self.length) or x.shape[0] == 0:
            raise ValueError(f"MiniRocket.fit needs windows of shape (N ≥ 1, {self.in_channels}, "
                             f"{self.length}), got {tuple(x.shape)}")
        self.channel_mask.copy_(self._draw_channels(seed))
        self.biases.copy_(self._fit_biases(x, seed))
        feats = torch.cat([self.transform(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        std = feats.std(dim=0, unbiased=False)
        self.feature_mean.copy_(feats.mean(dim=0))
        self.feature_std.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))  # constant: as is
        return (feats - self.feature_mean) / self.feature_std

    def _draw_channels(self, seed: int) -> torch.Tensor:
        """Each (dilation, kernel) pair's channels: 2^U(0, log2(min(C, 9) + 1)) of them, at random."""
        rng = np.random.RandomState(seed)
        rows = self.channel_mask.shape[0]
        counts = (2 ** rng.uniform(0, np.log2(min(self.in_channels, 9) + 1), rows)).astype(np.int32)
        mask = np.zeros((rows, self.in_channels), dtype=np.float32)
        for row, count in enumerate(counts):
            mask[row, rng.choice(self.in_channels, count, replace=False)] = 1.0
        return torch.from_numpy(mask)

    def _fit_biases(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """Each pair's biases: quantiles of its output on one random training window."""
        rng = np.random.RandomState(seed)
        levels = torch.from_numpy(minirocket_quantiles(self.num_features)).double()
        biases, start = [], 0
        for j, (dilation, count) in enumerate(zip(self.dilations, self.features_per_dilation)):
            picks = torch.as_tensor([rng.randint(len(x)) for _ in range(MINIROCKET_KERNELS)])
            mask = self.channel_mask[j * MINIROCKET_KERNELS:(j + 1) * MINIROCKET_KERNELS]  # (84, C)
            mixed = (mask.unsqueeze(-1) * x[picks]).sum(1)  # (84, L): pair k's channel sum of its window
            pad = (MINIROCKET_KERNEL_LENGTH - 1) * dilation // 2
            out = torch.nn.functional.conv1d(mixed.unsqueeze(0), self.kernels, padding=pad, dilation=dilation,
                                             groups=MINIROCKET_KERNELS)[0]  # (84, L)
            q = levels[start:start + MINIROCKET_KERNELS * count].view(MINIROCKET_KERNELS, count)
            biases.append(_quantile_rows(out.double(), q).float().flatten())
            start += MINIROCKET_KERNELS * count
        return torch.cat(biases)


def _quantile_rows(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Row-wise quantiles with linear interpolation (numpy's default): (K, T), (K, F) → (K, F)."""
    ordered = values.sort(dim=1).values
    pos = levels * (values.shape[1] - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=values.shape[1] - 1)
    frac = pos - lo
    a, b = ordered.gather(1, lo), ordered.gather(1, hi)
    return a + (b - a) * frac



class MiniRocketFeatures(nn.Module):
    """The ``minirocket`` backbone's network: (B, C, L) standardised window → (B, ~F) features."""

    def __init__(self, in_channels, length, num_features=10_000, max_dilations=32):
        super().__init__()
        self.rocket = MiniRocket(in_channels, length, num_features, max_dilations)
        self.num_features = self.rocket.num_features

    def forward(self, x):  # (B, C, L) → (B, F)
        return self.rocket(x)
