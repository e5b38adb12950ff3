"""Audio backbones: raw mono waveform (B, T) in, clip embedding (B, D) out.

Each computes its own features inside the module (log-mel, Kaldi fbank, waveform normalisation),
so exported graphs and generated code take the raw waveform:

* ``cnn14`` — PANNs CNN14 (AudioSet) with the official parameter names, so the official checkpoint
  ``Cnn14_mAP=0.431.pth`` loads with ``strict=True``; 2048-d clip embedding (fc1 + ReLU);
* ``resnet18_melspec`` — torchvision ResNet18 on a 1-channel log-mel, conv1 rebuilt for 1 channel;
* ``ast`` — transformers' Audio Spectrogram Transformer (AudioSet fine-tuned), pooled output;
* ``wav2vec2_base`` — transformers' wav2vec2-base, mean-pooled over time with padding masked;
* ``scratch_melcnn`` — a small log-mel CNN that trains from scratch on a CPU in seconds.

Transformers backbones build from bundled config numbers when ``pretrained`` is ``none`` (no
download); ``spec.extra["config_overrides"]`` (a dict) changes them, which is how tests build tiny
random models. Spectrogram backbones expose ``configure_augment(AugmentConfig)`` to size their
SpecAugment masks (active in training mode only).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..augment.audio import SpecAugment
from ..errors import WeightsUnavailableError
from .backbones import Backbone, BackboneSpec, _tv_weights, pretrained_state, with_pretrained
from .weights import FIX_HINT, WeightSource, load_strict, offline

# --------------------------------------------------------------------------- log-mel front ends


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


class _SpecAugmented(Backbone):
    """Mixin for backbones with a SpecAugment module named ``spec_augment``."""

    spec_augment: SpecAugment

    def configure_augment(self, augment) -> None:
        """Size the SpecAugment masks from an AugmentConfig (zero widths when it is disabled)."""
        on = bool(augment.enabled)
        self.spec_augment.time_mask = int(augment.time_mask) if on else 0
        self.spec_augment.freq_mask = int(augment.freq_mask) if on else 0


# --------------------------------------------------------------------------- PANNs CNN14


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


class Cnn14(_SpecAugmented):
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
        self.spec_augment = SpecAugment(time_mask=64, freq_mask=8)  # PANNs' training setting
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

    def blocks(self) -> list[nn.Module]:
        return [getattr(self, f"conv_block{i}") for i in range(1, 7)] + [self.fc1]


def _cnn14_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    state = pretrained_state(spec, pretrained)  # first: a missing checkpoint fails fast
    model = Cnn14(sample_rate=spec.input.sample_rate, **spec.extra.get("config_overrides", {}))
    if state is not None:
        load_strict(model, state, "PANNs Cnn14")
    return model



# --------------------------------------------------------------------------- ResNet18 on log-mel


class ResNet18MelSpec(_SpecAugmented):
    """torchvision ResNet18 on a standardised 1-channel log-mel (B, 1, 128, frames) → (B, 512).

    Only ``conv1`` (rebuilt for one channel) is meant to train besides the head
    (:meth:`trainable_parts`); the Classifier keeps the frozen batch-norm layers in eval mode.
    """

    def __init__(self, resnet: nn.Module, sample_rate: int = 16000, n_mels: int = 128):
        super().__init__()
        self.logmel = LogMel(sample_rate, n_fft=512, win_length=400, hop_length=160, n_mels=n_mels)
        self.spec_augment = SpecAugment()
        self.model = resnet
        self.model.fc = nn.Identity()
        self.num_features = 512

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T) at 16 kHz
        x = self.spec_augment(standardise(self.logmel(wave)))  # (B, 1, M, frames)
        return self.model(x)  # (B, 512)

    def blocks(self) -> list[nn.Module]:
        m = self.model
        return [nn.ModuleList([m.conv1, m.bn1]), m.layer1, m.layer2, m.layer3, m.layer4]

    def trainable_parts(self, strategy: str) -> list[nn.Module] | None:
        """``partial``: exactly conv1 trains (the head is the replaced fc); else the default rule."""
        return [self.model.conv1] if strategy == "partial" else None


def one_channel_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A 1-input-channel copy of ``conv`` (same kernel/stride/padding), weights = mean over RGB."""
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    bias=conv.bias is not None)
    with torch.no_grad():
        new.weight.copy_(conv.weight.mean(dim=1, keepdim=True))  # (O, 1, k, k)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def _resnet18_melspec_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    import torchvision

    resnet = torchvision.models.resnet18(weights=None)
    state = pretrained_state(spec, pretrained)
    if state is not None and state.get("conv1.weight", torch.empty(0, 3)).shape[1] == 3:
        load_strict(resnet, state, "torchvision resnet18")  # ImageNet: 3-channel conv1, 1000-way fc
        state = None
    resnet.conv1 = one_channel_conv(resnet.conv1)
    model = ResNet18MelSpec(resnet, spec.input.sample_rate, **spec.extra.get("config_overrides", {}))
    if state is not None:  # our own 1-channel checkpoint (fc already removed)
        load_strict(model, state, "resnet18_melspec")
    return model


def _resnet18_weights():
    return _tv_weights("resnet18", "ResNet18_Weights")  # read from torchvision when first asked for



# --------------------------------------------------------------------------- transformers helpers


def _from_hub(cls, hub_id: str, what: str):
    """``cls.from_pretrained(hub_id)`` from the HF cache (or the hub when online), or a clear error."""
    try:
        return cls.from_pretrained(hub_id, local_files_only=offline())
    except Exception as exc:  # OSError (not cached / no network), HTTP errors, ...
        where = "the Hugging Face cache" if offline() else "the Hugging Face hub or its cache"
        raise WeightsUnavailableError(
            f"pretrained weights for {what} ({hub_id}) are not available from {where}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            [FIX_HINT, f"or download once with network: python -c \"import transformers; "
                       f"transformers.{cls.__name__}.from_pretrained('{hub_id}')\""], weights=hub_id,
        ) from None


def _pretrained_transformer(cls, spec: BackboneSpec, pretrained: str):
    """A hub model (weight tag), a saved model folder (file with ``config.json`` beside it), or None.

    Hub-format folders go through ``from_pretrained`` so transformers renames old checkpoint keys.
    """
    if pretrained in spec.weights:
        return _from_hub(cls, spec.weights[pretrained].hub_id, spec.name)
    if pretrained != "none" and (Path(pretrained).parent / "config.json").is_file():
        return _from_hub(cls, str(Path(pretrained).parent), spec.name)
    return None


def _load_state_file(model: nn.Module, spec: BackboneSpec, pretrained: str, prefix: str, what: str) -> None:
    """Strictly load a single state-dict file (bare model, or task model with ``prefix``)."""
    state = pretrained_state(spec, pretrained)
    if state is None:
        return
    if any(k.startswith(prefix) for k in state):  # a task model's checkpoint: keep the bare model
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    load_strict(model, state, what)


# --------------------------------------------------------------------------- AST


class KaldiFbank(nn.Module):
    """Kaldi-compatible log mel fbank, as ASTFeatureExtractor: (B, T) 16 kHz → (B, frames, mels).

    25 ms Hann (symmetric) frames every 10 ms, DC removal, pre-emphasis 0.97, 512-point power
    spectrum, Kaldi mel filters 20 Hz – Nyquist, natural log floored at float32 epsilon.
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 128):
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        self.frame, self.hop, self.n_fft = int(0.025 * sample_rate), int(0.010 * sample_rate), 512
        mel = mel_filter_bank(num_frequency_bins=self.n_fft // 2 + 1, num_mel_filters=n_mels,
                              min_frequency=20, max_frequency=sample_rate // 2,
                              sampling_rate=sample_rate, norm=None, mel_scale="kaldi",
                              triangularize_in_mel_space=True)  # (F, M)
        self.register_buffer("mel", torch.from_numpy(mel.astype(np.float32)), persistent=False)
        self.register_buffer("window", torch.hann_window(self.frame, periodic=False), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T)
        if wave.shape[-1] < self.frame:
            wave = F.pad(wave, (0, self.frame - wave.shape[-1]))
        frames = wave.float().unfold(-1, self.frame, self.hop)  # (B, N, frame)
        frames = frames - frames.mean(dim=-1, keepdim=True)
        frames = torch.cat([frames[..., :1] * (1 - 0.97), frames[..., 1:] - 0.97 * frames[..., :-1]], -1)
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft)  # (B, N, F)
        power = spec.real ** 2 + spec.imag ** 2
        return torch.log(torch.matmul(power, self.mel).clamp_min(1.192092955078125e-07))  # (B, N, M)


class ASTBackbone(Backbone):
    """Audio Spectrogram Transformer: waveform → Kaldi fbank → AST → pooled output (B, hidden)."""

    MEAN, STD = -4.2677393, 4.5689974  # AudioSet fbank statistics (ASTFeatureExtractor)

    def __init__(self, model: nn.Module):
        super().__init__()
        cfg = model.config
        self.fbank = KaldiFbank(16000, cfg.num_mel_bins)
        self.max_length = cfg.max_length
        self.ast = model
        self.num_features = cfg.hidden_size

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """ASTFeatureExtractor's input_values: (B, max_length, mels), padded/truncated, normalised."""
        x = self.fbank(wave)  # (B, N, M)
        x = F.pad(x, (0, 0, 0, max(0, self.max_length - x.shape[1])))[:, : self.max_length]
        return (x - self.MEAN) / (self.STD * 2)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T) at 16 kHz
        return self.ast(input_values=self.features(wave)).pooler_output  # (B, hidden)

    def blocks(self) -> list[nn.Module]:
        return [self.ast.embeddings, *self.ast.layers, self.ast.layernorm]


def _ast_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    from transformers import ASTConfig, ASTForAudioClassification, ASTModel

    full = _pretrained_transformer(ASTForAudioClassification, spec, pretrained)
    if full is not None:
        return ASTBackbone(full.audio_spectrogram_transformer)
    # ASTConfig's defaults are the base AudioSet model's numbers (768 wide, 12 layers, 128 mels).
    model = ASTModel(ASTConfig(num_labels=527, **spec.extra.get("config_overrides", {})))
    _load_state_file(model, spec, pretrained, "audio_spectrogram_transformer.", "AST")
    return ASTBackbone(model)



# --------------------------------------------------------------------------- wav2vec2


def valid_lengths(wave: torch.Tensor, minimum: int = 400) -> torch.Tensor:
    """Samples up to the last non-zero one per row (B,): the preprocessor zero-pads at the end."""
    pos = torch.arange(1, wave.shape[-1] + 1, device=wave.device)  # (T,)
    last = ((wave != 0) * pos).amax(dim=-1)  # (B,)
    return last.clamp(min=min(minimum, wave.shape[-1]))  # silent clips still give a few frames


class Wav2Vec2Backbone(Backbone):
    """wav2vec2: per-utterance normalised waveform → hidden states mean-pooled over time.

    Padding is masked exactly: the zero padding the preprocessor adds is cut off before the model
    sees it (wav2vec2-base's group norm and attention would otherwise mix it into every frame);
    clips of equal real length still run as one batch.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.wav2vec2 = model
        self.num_features = model.config.hidden_size

    def forward(self, wave: torch.Tensor) -> torch.Tensor:  # wave: (B, T) at 16 kHz
        lengths = valid_lengths(wave)  # (B,)
        out = wave.new_empty(wave.shape[0], self.num_features, dtype=torch.float32)
        for length in lengths.unique().tolist():
            rows = (lengths == length).nonzero().squeeze(1)  # (b,)
            out[rows] = self._embed(wave[rows, :length].float())
        return out  # (B, D)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:  # x: (b, L) without padding
        x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + 1e-7)
        return self.wav2vec2(x).last_hidden_state.mean(dim=1)  # (b, N, D) → (b, D)

    def blocks(self) -> list[nn.Module]:
        m = self.wav2vec2
        return [m.feature_extractor, m.feature_projection, *m.encoder.layers]


def _wav2vec2_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    loaded = _pretrained_transformer(Wav2Vec2Model, spec, pretrained)
    if loaded is not None:
        return Wav2Vec2Backbone(loaded)
    # Wav2Vec2Config's defaults are wav2vec2-base's numbers (768 wide, 12 layers, group norm).
    model = Wav2Vec2Model(Wav2Vec2Config(**spec.extra.get("config_overrides", {})))
    _load_state_file(model, spec, pretrained, "wav2vec2.", "wav2vec2")
    return Wav2Vec2Backbone(model)



# --------------------------------------------------------------------------- from scratch


class ScratchMelCNN(_SpecAugmented):
    """Log-mel (64 bins, 16 kHz, 20 ms hop) → 4 × [conv-BN-ReLU-maxpool] → mean+max over time → (B, 128).

    The log-mel loses its overall level (per-example mean: recordings differ in gain) and is then
    normalised per mel band with statistics of the training data (``bn0``, a BatchNorm over the
    bands as in PANNs: its running mean/variance are saved with the weights).
    """

    def __init__(self, sample_rate: int = 16000, n_mels: int = 64, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        self.logmel = LogMel(sample_rate, n_fft=512, win_length=400, hop_length=320, n_mels=n_mels)  # 20 ms hop: cheap
        self.bn0 = nn.BatchNorm2d(n_mels)
        self.spec_augment = SpecAugment()
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

    def blocks(self) -> list[nn.Module]:
        return list(self.stages)


def _scratch_melcnn_factory(spec: BackboneSpec, pretrained: str) -> Backbone:
    model = ScratchMelCNN(spec.input.sample_rate, **spec.extra.get("config_overrides", {}))
    return with_pretrained(model, spec, pretrained, "scratch_melcnn")
