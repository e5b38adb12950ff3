"""Audio networks on the raw mono waveform (B, T): log-mel front end, PANNs CNN14, ResNet18 on
log-mel, the small scratch mel CNN (see konstrukt.models.audio for what each is).

Self-contained (torch and numpy; torchvision only for the ResNet): konstrukt's audio backbones are
these classes (with the registry contract and SpecAugment added), and exported bundles carry this
file verbatim, so training, ``predict.py`` and the ONNX graph compute the same features.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale (librosa's default): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    hz = m * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log_part, hz)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters (n_fft // 2 + 1, n_mels), as ``librosa.filters.mel``.T."""
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (F,)
    mel_freqs = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))  # (M + 2,)
    widths = np.diff(mel_freqs)  # (M + 1,)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]  # (M + 2, F)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # (M, F)
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]  # equal area per filter
    return weights.T.astype(np.float32)  # (F, M)


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Per-example zero mean / unit variance (log-mel levels differ wildly between recordings)."""
    dims = tuple(range(1, x.dim()))
    return (x - x.mean(dim=dims, keepdim=True)) / (x.std(dim=dims, keepdim=True) + 1e-5)


class LogMel(nn.Module):
    """Waveform (B, T) → log-mel power in dB (B, 1, n_mels, frames), torch only."""

    def __init__(self, sample_rate: int = 16000, n_fft: int = 512, win_length: int = 400,
                 hop_length: int = 160, n_mels: int = 64, fmin: float = 20.0, fmax: float | None = None):
        super().__init__()
        self.n_fft, self.win_length, self.hop_length = n_fft, win_length, hop_length
        mel = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax or sample_rate / 2)
        # Derived from the settings, so not saved: checkpoints stay independent of the front end.
        self.register_buffer("window", torch.hann_window(win_length), persistent=False)
        self.register_buffer("mel", torch.from_numpy(mel), persistent=False)  # (F, M)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T)
        if wave.shape[-1] <= self.n_fft // 2:  # reflect padding needs a few samples
            wave = F.pad(wave, (0, self.n_fft // 2 + 1 - wave.shape[-1]))
        spec = torch.stft(wave.float(), self.n_fft, self.hop_length, self.win_length, self.window,
                          center=True, pad_mode="reflect", return_complex=True)  # (B, F, frames)
        power = spec.real ** 2 + spec.imag ** 2
        mel = torch.matmul(power.transpose(1, 2), self.mel)  # (B, frames, M)
        return 10.0 * torch.log10(mel.clamp_min(1e-10)).transpose(1, 2).unsqueeze(1)  # (B, 1, M, frames)


class PannsSTFT(nn.Module):
    """STFT as two frozen Conv1d (torchlibrosa's layout: ``stft.conv_real`` / ``stft.conv_imag``)."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.n_fft = n_fft
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop_length, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop_length, bias=False)
        window = torch.hann_window(n_fft, dtype=torch.float64)  # periodic, as scipy's fftbins=True
        angle = 2 * math.pi * torch.outer(torch.arange(bins, dtype=torch.float64),
                                          torch.arange(n_fft, dtype=torch.float64)) / n_fft
        with torch.no_grad():
            self.conv_real.weight.copy_((torch.cos(angle) * window)[:, None, :])  # (F, 1, n_fft)
            self.conv_imag.weight.copy_((-torch.sin(angle) * window)[:, None, :])
        self.requires_grad_(False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T)
        x = F.pad(wave[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")  # (B, 1, T')
        real, imag = self.conv_real(x), self.conv_imag(x)  # (B, F, frames)
        return (real ** 2 + imag ** 2).transpose(1, 2)[:, None]  # (B, 1, frames, F) power


class PannsSpectrogram(nn.Module):
    """``spectrogram_extractor``: holds ``stft`` so parameter names match torchlibrosa's."""

    def __init__(self, n_fft: int, hop_length: int):
        super().__init__()
        self.stft = PannsSTFT(n_fft, hop_length)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.stft(wave)  # (B, 1, frames, F)


class PannsLogmel(nn.Module):
    """``logmel_extractor``: frozen ``melW`` (F, mels) then power → dB (ref 1, amin 1e-10, no top_db)."""

    def __init__(self, sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float):
        super().__init__()
        self.melW = nn.Parameter(torch.from_numpy(mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax)),
                                 requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:  # (B, 1, frames, F)
        return 10.0 * torch.log10(torch.matmul(power, self.melW).clamp_min(1e-10))  # (B, 1, frames, M)


class ConvBlock(nn.Module):
    """Two 3×3 conv → BN → ReLU, then average pooling (PANNs' ConvBlock names)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.bn2 = nn.BatchNorm2d(cout)
        for conv in (self.conv1, self.conv2):
            nn.init.xavier_uniform_(conv.weight)

    def forward(self, x: torch.Tensor, pool: int) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, pool) if pool > 1 else x


CNN14_WIDTHS = (64, 128, 256, 512, 1024, 2048)


class Cnn14(nn.Module):
    """PANNs CNN14 with its log-mel front end; ``forward`` returns the clip embedding (B, 2048).

    Module names follow the official implementation so ``{"model": state}`` checkpoints load
    strictly; ``fc_audioset`` (the 527 AudioSet logits) is kept for that reason but unused.
    ``widths`` only shrinks the network for tests.
    """

    def __init__(self, sample_rate: int = 32000, window_size: int = 1024, hop_size: int = 320,
                 mel_bins: int = 64, fmin: float = 50.0, fmax: float = 14000.0, classes_num: int = 527,
                 widths: tuple[int, ...] = CNN14_WIDTHS):
        super().__init__()
        self.spectrogram_extractor = PannsSpectrogram(window_size, hop_size)
        self.logmel_extractor = PannsLogmel(sample_rate, window_size, mel_bins, fmin, fmax)
        self.spec_augment = nn.Identity()  # konstrukt trains with SpecAugment(64, 8) here
        self.bn0 = nn.BatchNorm2d(mel_bins)
        chans = (1, *widths)
        for i in range(6):
            setattr(self, f"conv_block{i + 1}", ConvBlock(chans[i], chans[i + 1]))
        self.fc1 = nn.Linear(widths[-1], widths[-1])
        self.fc_audioset = nn.Linear(widths[-1], classes_num)
        self.num_features = widths[-1]
        for fc in (self.fc1, self.fc_audioset):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def logmel(self, wave: torch.Tensor) -> torch.Tensor:
        """Batch-normalised log-mel (B, 1, frames, mels) as CNN14 sees it."""
        x = self.logmel_extractor(self.spectrogram_extractor(wave))  # (B, 1, frames, M)
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)  # bn0 normalises per mel bin

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T) at 32 kHz
        x = self.logmel(wave)  # (B, 1, frames, M)
        x = self.spec_augment(x.transpose(2, 3)).transpose(2, 3)  # masks expect (B, C, F, T)
        for i in range(1, 7):
            x = getattr(self, f"conv_block{i}")(x, pool=2 if i < 6 else 1)
            x = F.dropout(x, p=0.2, training=self.training)
        x = x.mean(dim=3)  # (B, C, frames') — average over frequency
        x = x.max(dim=2).values + x.mean(dim=2)  # (B, C) — max + mean over time
        x = F.dropout(x, p=0.5, training=self.training)
        return F.relu(self.fc1(x))  # (B, D): PANNs' "embedding"


class ResNet18MelSpec(nn.Module):
    """torchvision ResNet18 on a standardised 1-channel log-mel (B, 1, 128, frames) → (B, 512)."""

    def __init__(self, resnet: nn.Module, sample_rate: int = 16000, n_mels: int = 128):
        super().__init__()
        self.logmel = LogMel(sample_rate, n_fft=512, win_length=400, hop_length=160, n_mels=n_mels)
        self.spec_augment = nn.Identity()  # konstrukt trains with SpecAugment here
        self.model = resnet
        self.model.fc = nn.Identity()
        self.num_features = 512

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T) at 16 kHz
        x = self.spec_augment(standardise(self.logmel(wave)))  # (B, 1, M, frames)
        return self.model(x)  # (B, 512)


def one_channel_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A 1-input-channel copy of ``conv`` (same kernel/stride/padding), weights = mean over RGB."""
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    bias=conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(conv.weight.mean(dim=1, keepdim=True))  # (O, 1, k, k)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def resnet18_one_channel(resnet=None):
    """torchvision ResNet18 (built without weights unless given) with a 1-channel ``conv1``."""
    if resnet is None:
        import torchvision

        resnet = torchvision.models.resnet18(weights=None)
    resnet.conv1 = one_channel_conv(resnet.conv1)
    return resnet


class ScratchMelCNN(nn.Module):
    """Log-mel (64 bins, 16 kHz, 20 ms hop) → 4 × [conv-BN-ReLU-maxpool] → mean+max over time → (B, 128).

    The log-mel loses its overall level (per-example mean: recordings differ in gain) and is then
    normalised per mel band with statistics of the training data (``bn0``, a BatchNorm over the
    bands as in PANNs: its running mean/variance are saved with the weights).
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.logmel = LogMel(sample_rate, n_fft=512, win_length=400, hop_length=320, n_mels=n_mels)  # 20 ms hop: cheap
        self.bn0 = nn.BatchNorm2d(n_mels)
        self.spec_augment = nn.Identity()  # konstrukt trains with SpecAugment here
        stages, prev = [], 1
        for w in widths:
            stages.append(nn.Sequential(nn.Conv2d(prev, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                                        nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)))
            prev = w
        self.stages = nn.Sequential(*stages)
        self.num_features = prev

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T)
        x = self.logmel(wave)  # (B, 1, M, frames)
        x = x - x.mean(dim=(2, 3), keepdim=True)  # level-free
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)  # per mel band, from training statistics
        x = self.spec_augment(x)  # (B, 1, M, frames)
        x = self.stages(x).mean(dim=2)  # (B, C, frames')
        return x.amax(dim=-1) + x.mean(dim=-1)  # (B, C)
