"""The signal modality (task ``signal``: sensor time series — sEMG, IMU, ECG, vibration), in one place.

Files: CSV (columns = channels, optional header and time column), NPY and NPZ arrays (channels ×
time or time × channels), any length and rate (:mod:`konstrukt.modalities.signal.preprocess`); or long
recordings plus a labels CSV ``file,start,end,label[,subject]`` cut into windows, split by
recording/subject (:mod:`konstrukt.data.segments`). Its settings are the ``signal`` section of the
config (rate, window, hop, pad/crop, layout, model sizes). Per-channel standardisation uses
training-split statistics saved with the run. Train-time augmentations: time/channel masking,
magnitude warping, jitter, scaling, time shift (:mod:`konstrukt.modalities.signal.augment`). At prediction a
recording longer than one window is cut into windows that vote. Backbones: the residual 1-D CNN
family (:mod:`konstrukt.modalities.signal.models`), trained from scratch, and MiniRocket's training-free
features fitted on the training split (:mod:`konstrukt.modalities.signal.minirocket`) under a linear probe.
The browser uploads files or records a phone's or laptop's motion sensors (``capture="motion"``).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...config import SignalConfig
from ...demo_signal import run_signal_demo
from ...pipelines import PipelineSpec, register_pipeline
from ...tasks import Demo, ExportHooks, Modality, TaskSpec, UICapabilities, register_modality

EXTENSIONS = frozenset({".csv", ".npy", ".npz"})


@dataclass(frozen=True)
class SignalInput:
    """What a signal backbone takes: a standardised window (B, C, L). The run's data fixes C."""

    channels: int = 3  # used only when a backbone is built without data (contract test, examples)
    length: int = 2000  # an example window's length (2 s at 1 kHz)


def _preprocessor(spec, config):
    from .preprocess import SignalPreprocessor

    return SignalPreprocessor(spec, config)


def _augmentations():
    from .augment import SIGNAL_AUGMENTATIONS

    return SIGNAL_AUGMENTATIONS


def _restore(cfg: dict):
    from .preprocess import SignalPreprocessor

    return SignalPreprocessor.from_state(cfg)


def _windows(pre, path: Path, config) -> list | None:
    """A recording longer than one window: every window (``signal.hop`` apart), which then vote."""
    return pre.load_windows(path)


def _sequence():
    """This wing's part of sequence runs (konstrukt/sequences/), imported on first use (torch)."""
    from .sequence import hooks

    return hooks()


def _export():
    """This wing's export code, imported when an export needs it (it imports torch)."""
    from . import export

    return export


def example_input(spec, batch: int = 1, small: bool = False):
    """A random batch as the backbone takes it: (B, C, L); ``small``: 128 samples."""
    import torch

    return torch.randn(batch, spec.input.channels, 128 if small else spec.input.length)  # (B, C, L)


def _health():
    from .health import HEALTH

    return HEALTH


def _reference():
    from .reference import REFERENCE

    return REFERENCE


MODALITY = Modality(
    name="signal", extensions=EXTENSIONS, preprocessor=_preprocessor, augmentations=_augmentations,
    example_input=example_input, config_section="signal", windows=_windows,
    # the browser records the device's motion sensors (static/motion.js), one window long
    ui=UICapabilities(accept=tuple(sorted(EXTENSIONS)), capture="motion", preview="file",
                      capture_seconds=SignalConfig().window),
    health=_health, reference=_reference,
    description="sensor recordings: CSV / NPY / NPZ, channels × time, any rate and length",
    # export: the model standardises inside (raw windows in), INT8 dynamic (export.py); predict.py
    # resamples other rates with scipy
    export=ExportHooks(noun="recording", reader_dists=("scipy",),
                       describe=lambda pre: _export().describe(pre),
                       int8=lambda backbone: _export().int8(backbone),
                       adapter=lambda pre: _export().SignalAdapter(pre),
                       web_script=lambda: resources.files(__name__).joinpath("web.js").read_text("utf-8")),
    restore_preprocessor=_restore,
    variety="other people, sessions, sensor placements and devices", sequence=_sequence,
)

TASKS = (
    TaskSpec("signal", "signal", EXTENSIONS, default_pipeline="rescnn_bilstm_se",
             offline_pipeline="rescnn_bilstm_se",
             description="sensor time series (sEMG, IMU, ECG …: CSV/NPY/NPZ, channels × time)",
             auto_pretrained=("minirocket",), auto_scratch="rescnn_bilstm_se",
             demo=Demo("signals: synthesised 6-channel gestures (fist, pinch, wave, rest) of 5 subjects",
                       "recordings of 2 unseen subjects", run_signal_demo)),
)

# The head every signal pipeline starts from: MLP 480, dropout 0.3 (editable like any head).
# 20 epochs (each topped up to 50 windows per class): 30 cost 1.5× the time — 5-fold CV of 4 classes
# × 20 windows past 2 minutes on 2 cores — for no clear gain on bench/signal_quality.py (test / CV:
# PickupGesture 0.70 / 0.78 at 20 epochs, 0.78 / 0.76 at 30; JapaneseVowels 0.959 / 0.948 at 20,
# 0.951 / 0.967 at 30). Batch 32: a CPU does more windows per second, and on the same bench it
# was no worse than 16 (BasicMotions 1.000 / 1.000 vs 0.975 / 1.000, PickupGesture 0.74 / 0.70 vs
# 0.72 / 0.70, JapaneseVowels 0.973 / 0.948 vs 0.959 / 0.948) in about half the time.
SIGNAL_HEAD = [{"units": 480, "activation": "relu", "dropout": 0.3}]
_DEFAULTS = {"head": SIGNAL_HEAD, "optimizer": "adamw", "learning_rate": 2e-3, "weight_decay": 1e-2,
             "num_epochs": 20, "batch_size": 32, "early_stopping": {"patience": 8}}

# name, backbone variant, description
_VARIANTS = [
    ("rescnn", {}, "residual 1-D CNN (kernel 9, LayerNorm, dropout) → MLP 480"),
    ("rescnn_se", {"se": True}, "residual 1-D CNN + squeeze-and-excitation → MLP 480"),
    ("rescnn_bilstm_se", {"se": True, "temporal": "lstm"},
     "residual 1-D CNN + squeeze-and-excitation + 2-layer BiLSTM → MLP 480 (recommended)"),
    ("rescnn_gru", {"temporal": "gru", "temporal_dropout": 0.3},
     "residual 1-D CNN + 2-layer bidirectional GRU (dropout 0.3) → MLP 480"),
    ("rescnn_transformer", {"temporal": "transformer"},
     "residual 1-D CNN front end + Transformer encoder (1–4 layers) → MLP 480"),
]


# MiniRocket: a linear probe on its ~10k standardised features (cached per fitted transform): logistic
# regression trained by AdamW, weight decay in place of the paper's ridge penalty. No augmented copies:
# the features are fitted on the real training windows, as in the paper. On the features of
# bench/signal_quality.py's sets, test accuracy of lr 3e-4 × 30 epochs (batch 32) vs 1e-3 × 60:
# JapaneseVowels 0.981 vs 0.978, PickupGesture 0.84 vs 0.82, BasicMotions 1.0 for both, in half the
# time; batch 256 was worse (0.962 on JapaneseVowels), lr 1e-2 much worse (0.68 on PickupGesture).
MINIROCKET_DEFAULTS = {"optimizer": "adamw", "learning_rate": 3e-4, "weight_decay": 1e-2, "num_epochs": 30,
                       "batch_size": 32, "augment": {"enabled": False}, "early_stopping": {"patience": 10}}


def register() -> None:
    """The modality, its task and its six pipelines."""
    register_modality(MODALITY, TASKS)
    for name, _, description in _VARIANTS:
        register_pipeline(PipelineSpec(name=name, tasks=("signal",), backbone=name, strategy="full",
                                       head="mlp", pretrained="none", defaults=dict(_DEFAULTS),
                                       description=description + " (from scratch)"))
    register_pipeline(PipelineSpec(
        name="minirocket", tasks=("signal",), backbone="minirocket", strategy="probe", head="ridge",
        pretrained="none", defaults=dict(MINIROCKET_DEFAULTS),
        description="MiniRocket: fixed dilated convolutions with biases fitted on the training split, "
                    "~10k proportion-of-positive-values features → linear (training-free features)"))


def register_backbones() -> None:
    """The ResCNN family, one registered variant per pipeline."""
    from ...models.backbones import BackboneSpec, register_backbone
    from .models import rescnn_factory

    for name, variant, description in _VARIANTS:
        # mean+max pooling of the CNN's 128 channels, plus the temporal model's beside them:
        # 2 × 64 (BiLSTM/BiGRU) or 64 (Transformer)
        dim = 2 * (128 + {"lstm": 128, "gru": 128, "transformer": 64}.get(variant.get("temporal"), 0))
        register_backbone(BackboneSpec(
            name=name, modality="signal", factory=rescnn_factory, num_features=dim, input=SignalInput(),
            default_weights="none", extra={"variant": variant, "config_overrides": {}},
            description=description))
    register_minirocket()


def register_minirocket() -> None:
    """MiniRocket's transform as a backbone; without data it is sized for the small example window."""
    from ...models.backbones import BackboneSpec, register_backbone
    from .minirocket import NUM_FEATURES, minirocket_factory

    register_backbone(BackboneSpec(
        name="minirocket", modality="signal", factory=minirocket_factory,
        num_features=84 * (NUM_FEATURES // 84), input=SignalInput(length=128), default_weights="none",
        extra={"config_overrides": {}},
        description="MiniRocket (Dempster et al. 2021): 84 fixed length-9 kernels × data-fitted dilations "
                    "and biases → proportion of positive values, standardised"))
