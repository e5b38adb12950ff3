"""Transformer audio networks on the raw 16 kHz waveform (B, T): AST on a Kaldi fbank, wav2vec2.

Self-contained (torch and transformers): konstrukt's ``ast`` and ``wav2vec2_base`` backbones are
these classes (with the registry contract added), and exported bundles carry this file verbatim.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


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


class ASTBackbone(nn.Module):
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


def valid_lengths(wave: torch.Tensor, minimum: int = 400) -> torch.Tensor:
    """Samples up to the last non-zero one per row (B,): the preprocessor zero-pads at the end."""
    pos = torch.arange(1, wave.shape[-1] + 1, device=wave.device)  # (T,)
    last = ((wave != 0) * pos).amax(dim=-1)  # (B,)
    return last.clamp(min=min(minimum, wave.shape[-1]))  # silent clips still give a few frames


class Wav2Vec2Backbone(nn.Module):
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
