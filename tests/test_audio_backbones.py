"""Audio backbones: model-specific details (the shared contract: test_modalities.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from konstrukt.errors import WeightsUnavailableError
from konstrukt.modalities.audio import models as audio
from konstrukt.models.portable import audio_nets
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.models.classifier import Classifier, set_trainable

from tests.conftest import AUDIO_TINY as TINY

AUDIO = [name for name, spec in BACKBONES.items() if spec.modality == "audio"]


@pytest.fixture
def tiny(tiny_audio):
    """Every audio backbone builds its tiny configuration (see tests/conftest.py)."""


def test_every_audio_backbone_has_a_tiny_config():
    assert sorted(AUDIO) == sorted(TINY)


def test_silent_and_zero_padded_input(tiny):
    model = build_backbone("wav2vec2_base", "none").eval()
    with torch.inference_mode():
        out = model(torch.zeros(1, 8000))
    assert torch.isfinite(out).all()


def test_wav2vec2_mean_pool_ignores_padding(tiny):
    torch.manual_seed(0)
    model = build_backbone("wav2vec2_base", "none").eval()
    speech = torch.randn(1, 6000) * 0.1
    padded = torch.cat([speech, torch.zeros(1, 4000)], dim=1)  # (1, 10000)
    with torch.inference_mode():
        torch.testing.assert_close(model(padded), model(speech), atol=1e-4, rtol=1e-3)


def test_ast_fbank_matches_ast_feature_extractor(tiny):
    from transformers import ASTFeatureExtractor

    wave = (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32)
    ref = ASTFeatureExtractor(num_mel_bins=32, max_length=64)(wave, sampling_rate=16000,
                                                               return_tensors="pt")["input_values"]
    ours = build_backbone("ast", "none").features(torch.from_numpy(wave)[None])
    assert ours.shape == ref.shape == (1, 64, 32)
    torch.testing.assert_close(ours, ref.float(), atol=2e-3, rtol=1e-3)


def test_transformers_checkpoint_files_load_strictly(tiny, tmp_path):
    from transformers import ASTConfig, ASTForAudioClassification

    full = ASTForAudioClassification(ASTConfig(num_labels=527, **TINY["ast"]))  # the hub layout
    torch.save(full.state_dict(), tmp_path / "ast.pt")
    model = build_backbone("ast", str(tmp_path / "ast.pt"))
    key = "embeddings.cls_token"
    assert torch.equal(model.ast.state_dict()[key], full.audio_spectrogram_transformer.state_dict()[key])
    w2v = build_backbone("wav2vec2_base", "none")
    torch.save({"wav2vec2." + k: v for k, v in w2v.wav2vec2.state_dict().items()}, tmp_path / "w2v.pt")
    assert build_backbone("wav2vec2_base", str(tmp_path / "w2v.pt")).num_features == 32


def test_hub_weights_offline_say_how_to_fix(tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    for name in ("ast", "wav2vec2_base"):
        with pytest.raises(WeightsUnavailableError) as err:
            build_backbone(name, "default")
        assert "--pretrained" in str(err.value)


def test_cnn14_offline_without_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("KONSTRUKT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="Cnn14_mAP=0.431.pth"):
        build_backbone("cnn14", "default")


def test_resnet18_melspec_conv1_from_rgb_mean_and_only_conv1_trains(tiny, tmp_path):
    import torchvision

    rgb = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18_imagenet.pt"
    torch.save(rgb.state_dict(), path)  # stands in for the ImageNet checkpoint
    model = build_backbone("resnet18_melspec", str(path))
    conv1 = model.model.conv1
    assert conv1.in_channels == 1 and conv1.kernel_size == (7, 7) and conv1.stride == (2, 2)
    assert conv1.padding == (3, 3)
    torch.testing.assert_close(conv1.weight, rgb.conv1.weight.mean(dim=1, keepdim=True))
    clf = Classifier(model, nn.Sequential(nn.Linear(512, 3)))
    set_trainable(clf, "partial", partial_blocks=2)
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert trainable == {"backbone.model.conv1.weight", "head.0.weight", "head.0.bias"}
    assert not model.model.bn1.training  # frozen BN keeps its statistics
    assert model.spec_augment.training  # SpecAugment is active while training


def test_mel_filterbank_matches_librosa():
    import librosa

    ours = audio_nets.mel_filterbank(16000, 512, 40, 20.0, 8000.0)
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, fmin=20.0, fmax=8000.0).T
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_configure_augment_sets_mask_widths():
    from konstrukt.config import AugmentConfig

    model = build_backbone("scratch_melcnn", "none")
    model.configure_augment(AugmentConfig(time_mask=5, freq_mask=3))
    assert (model.spec_augment.time_mask, model.spec_augment.freq_mask) == (5, 3)
    model.configure_augment(AugmentConfig(enabled=False))
    assert (model.spec_augment.time_mask, model.spec_augment.freq_mask) == (0, 0)
