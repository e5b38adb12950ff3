"""CNN14 must carry the official PANNs parameter names and shapes, so the real checkpoint loads.

The table below was written by reading the official implementation (qiuqiangkong/
audioset_tagging_cnn ``pytorch/models.py`` class ``Cnn14`` and torchlibrosa ``stft.py``:
``Spectrogram.stft.conv_real/conv_imag`` are Conv1d(1, n_fft // 2 + 1, n_fft, bias=False),
``LogmelFilterBank.melW`` is a Parameter (n_fft // 2 + 1, mel_bins); ``SpecAugmentation`` has no
parameters). It is not derived from our code.
"""
from __future__ import annotations

import torch

from konstrukt.models.backbones import build_backbone

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _official_table() -> dict[str, tuple[int, ...]]:
    table = {
        "spectrogram_extractor.stft.conv_real.weight": (513, 1, 1024),
        "spectrogram_extractor.stft.conv_imag.weight": (513, 1, 1024),
        "logmel_extractor.melW": (513, 64),
    }
    table.update({f"bn0.{p}": (() if p == "num_batches_tracked" else (64,)) for p in _BN})
    chans = [1, 64, 128, 256, 512, 1024, 2048]
    for i in range(1, 7):
        cin, cout = chans[i - 1], chans[i]
        table[f"conv_block{i}.conv1.weight"] = (cout, cin, 3, 3)
        table[f"conv_block{i}.conv2.weight"] = (cout, cout, 3, 3)
        for bn in ("bn1", "bn2"):
            table.update({f"conv_block{i}.{bn}.{p}": (() if p == "num_batches_tracked" else (cout,))
                          for p in _BN})
    table.update({"fc1.weight": (2048, 2048), "fc1.bias": (2048,),
                  "fc_audioset.weight": (527, 2048), "fc_audioset.bias": (527,)})
    return table


OFFICIAL = _official_table()


def test_official_table_size():
    # 3 front-end tensors + bn0 (5) + 6 blocks × (2 convs + 2 × 5 BN) + fc1 (2) + fc_audioset (2)
    assert len(OFFICIAL) == 3 + 5 + 6 * 12 + 4 == 84


def test_cnn14_state_dict_matches_official_layout():
    model = build_backbone("cnn14", "none")
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == OFFICIAL
    assert model.num_features == 2048


def _random_like(key: str, value: torch.Tensor) -> torch.Tensor:
    if not value.is_floating_point():
        return value
    if key.endswith("running_var"):
        return torch.rand(value.shape) + 0.5  # variances must be positive
    return torch.randn(value.shape) * 0.02


def test_official_format_checkpoint_loads_strictly(tmp_path):
    model = build_backbone("cnn14", "none")
    state = {k: _random_like(k, v) for k, v in model.state_dict().items()}
    path = tmp_path / "Cnn14_mAP=0.431.pth"
    torch.save({"model": state, "sampler": {"note": "ignored"}}, path)  # the official wrapper
    loaded = build_backbone("cnn14", str(path))
    got = loaded.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    loaded.eval()
    with torch.inference_mode():
        emb = loaded(torch.randn(2, 32000))  # (B, T) one second at 32 kHz
    assert emb.shape == (2, 2048) and (emb >= 0).all()  # fc1 + ReLU


def test_front_end_matches_librosa_filters():
    import librosa
    import numpy as np

    model = build_backbone("cnn14", "none")
    expected = librosa.filters.mel(sr=32000, n_fft=1024, n_mels=64, fmin=50, fmax=14000).T
    np.testing.assert_allclose(model.logmel_extractor.melW.numpy(), expected, atol=1e-6)
    # The conv STFT equals torch.stft with a periodic Hann window (what librosa.stft computes).
    wave = torch.randn(1, 8000)
    power = model.spectrogram_extractor(wave)[0, 0]  # (frames, 513)
    ref = torch.stft(wave, 1024, 320, window=torch.hann_window(1024), center=True, pad_mode="reflect",
                     return_complex=True).abs().pow(2)[0].T
    torch.testing.assert_close(power, ref, rtol=1e-3, atol=1e-2)
