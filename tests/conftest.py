"""Shared fixtures: offline mode, a private embedding cache, and small real image datasets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from konstrukt.modalities import register_all

# What every entry point does first; here at collection, since tests parametrize over the registries.
register_all()

FAST = {"num_epochs": 2, "target_size": 8, "batch_size": 8, "image_size": 16, "cv": 0}


@pytest.fixture(autouse=True)
def _offline_and_private_cache(tmp_path_factory, monkeypatch):
    """Tests never touch the network or the user's caches."""
    monkeypatch.setenv("KONSTRUKT_OFFLINE", "1")
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch_home")))


def write_images(root: Path, per_class: int = 6, classes=("circle", "square", "stripes"),
                 size: int = 24, seed: int = 0) -> Path:
    """Synthetic but learnable images: each class is a different shape with random jitter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for c in classes:
        folder = root / c
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cx, cy = rng.uniform(size * 0.35, size * 0.65, 2)
            r = rng.uniform(size * 0.2, size * 0.3)
            if c == "circle":
                mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r**2
            elif c == "square":
                mask = (abs(xx - cx) < r) & (abs(yy - cy) < r)
            else:
                mask = ((xx + int(rng.integers(0, 4))) // 3) % 2 == 0
            img = np.where(mask, 220, 30).astype(np.uint8) + rng.integers(0, 25, (size, size)).astype(np.uint8)
            Image.fromarray(np.stack([img] * 3, -1)).save(folder / f"{c}_{i}.png")
    return root


@pytest.fixture
def image_data(tmp_path) -> Path:
    return write_images(tmp_path / "data")


def write_signals(root: Path, classes=("up", "down", "flat"), per_class: int = 4, channels: int = 3,
                  rate: float = 100.0, seconds: float = 0.5, fmt: str = "csv", seed: int = 0) -> Path:
    """Learnable synthetic signals: ramps up, ramps down or flat noise, one folder per class."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            slope = {"up": 4.0, "down": -4.0}.get(c, 0.0)
            x = slope * t[None] * rng.uniform(0.8, 1.2, (channels, 1)) + rng.normal(0, 0.2, (channels, t.size))
            if fmt == "csv":
                header = ",".join(["time"] + [f"ch{k}" for k in range(channels)])
                np.savetxt(root / c / f"{c}{i}.csv", np.column_stack([t, x.T]), delimiter=",",
                           header=header, comments="", fmt="%.6g")
            elif fmt == "npy":
                np.save(root / c / f"{c}{i}.npy", x.T.astype(np.float32))  # time × channels
            else:
                np.savez(root / c / f"{c}{i}.npz", data=x.astype(np.float32), fs=rate)
    return root


@pytest.fixture
def signal_data(tmp_path) -> Path:
    return write_signals(tmp_path / "signals")


@pytest.fixture
def fast() -> dict:
    return dict(FAST)


# Tiny random audio backbone configurations (no download): hidden sizes of a few dozen, one layer.
AUDIO_TINY = {
    "cnn14": {"widths": (4, 8, 8, 16, 16, 32)},
    "resnet18_melspec": {"n_mels": 32},
    "ast": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
            "num_mel_bins": 32, "max_length": 64},
    "wav2vec2_base": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                      "intermediate_size": 64, "conv_dim": (16, 16), "conv_kernel": (10, 3),
                      "conv_stride": (5, 2), "num_conv_pos_embeddings": 16,
                      "num_conv_pos_embedding_groups": 2},
    "scratch_melcnn": {},
    "speech_embedding": {"phases": 4, "mid_stats": True},  # small already (0.6 M); the registry's layout
}


# Tiny signal backbones: two narrow residual blocks, small recurrent/transformer tails.
SIGNAL_TINY = {
    "rescnn": {"widths": (8, 16)},
    "rescnn_se": {"widths": (8, 16)},
    "rescnn_bilstm_se": {"widths": (8, 16), "hidden_size": 8},
    "rescnn_gru": {"widths": (8, 16), "hidden_size": 8},
    "rescnn_transformer": {"widths": (8, 16), "hidden_size": 16, "layers": 1, "heads": 2},
    "minirocket": {"num_features": 840},
}
# What a signal config needs for tiny models that train in a second (the tests' `signal` section).
SIGNAL_FAST = {"num_epochs": 1, "target_size": 4, "batch_size": 8, "cv": 0,
               "signal": {"widths": [8, 16], "hidden_size": 8, "layers": 1, "heads": 2, "window": 0.5}}

# Every backbone whose default size is too big for a test, by name: a new modality adds its own here.
TINY_BACKBONES = {**AUDIO_TINY, **SIGNAL_TINY}


@pytest.fixture
def tiny_backbones(monkeypatch):
    """Make every backbone listed in TINY_BACKBONES build its tiny configuration."""
    from konstrukt.models.backbones import BACKBONES

    for name, overrides in TINY_BACKBONES.items():
        monkeypatch.setitem(BACKBONES.get(name).extra, "config_overrides", overrides)


@pytest.fixture
def tiny_audio(tiny_backbones):
    """Make every audio backbone build its tiny configuration."""
