"""Typed training configuration: the one schema the CLI, the API and saved runs share.

A classic ``hyperparams.json`` (``num_epochs``, ``learning_rate``, ``batch_size``,
``weight_decay``) is a valid config as it is; richer JSON/YAML files add the other sections.
Precedence, lowest first: built-in defaults < the pipeline's registered defaults < the config
file < command-line flags. Every invalid key is reported at once, with the allowed values.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

Activation = Literal["relu", "leaky_relu", "gelu", "elu", "selu", "silu", "tanh", "sigmoid", "none"]


MAX_TARGET_SIZE = 10_000  # augmented copies per class: far past what small data needs (default 50)
# Every (example, augmented view) a job trains on is a list item and, for frozen backbones, an
# embedding: the total per job is bounded so that no setting can make a worker build millions.
MAX_TRAIN_ITEMS = 200_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class HeadBlock(_Strict):
    """One hidden block of a head: Linear(units) → [BatchNorm] → activation → [Dropout]."""

    units: int = Field(gt=0, le=65536)
    activation: Activation = "relu"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    batchnorm: bool = False


class OptimizerConfig(_Strict):
    name: Literal["adam", "adamw", "sgd", "rmsprop", "adagrad"] = "adam"
    momentum: float = Field(0.9, ge=0.0, lt=1.0)  # sgd, rmsprop
    nesterov: bool = False  # sgd


class EarlyStoppingConfig(_Strict):
    enabled: bool = True
    patience: int = Field(5, ge=1)
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    restore_best: bool = True
    # A validation split with fewer examples of some class than this cannot choose epochs: the
    # model then trains on train+val for the full fixed schedule (num_epochs) instead.
    min_val_per_class: int = Field(10, ge=1)


class ScheduleConfig(_Strict):
    name: Literal["none", "cosine", "step", "plateau"] = "none"
    step_size: int = Field(5, ge=1)  # step: epochs between decays
    gamma: float = Field(0.5, gt=0.0, le=1.0)  # step/plateau: decay factor
    warmup_epochs: int = Field(0, ge=0)


class AugmentConfig(_Strict):
    """Train-time augmentation; each modality reads its own fields. Validation/test never augment.

    ``probe`` strategies see augmentation through the ``target_size`` top-up: each extra copy is a
    distinct augmented *view* whose embedding is cached; the other strategies augment every
    training example afresh each epoch.
    """

    enabled: bool = True
    # image
    # probability; None (the default) = 0.5, unless mirrored training images look like another
    # class to a simple model (handwriting, digits, arrows): then 0 (modalities.image.augment.choose_hflip)
    hflip: Optional[float] = Field(None, ge=0.0, le=1.0)
    rotation: float = Field(15.0, ge=0.0, le=180.0)  # degrees, ±
    brightness: float = Field(0.2, ge=0.0, le=1.0)
    contrast: float = Field(0.2, ge=0.0, le=1.0)
    saturation: float = Field(0.2, ge=0.0, le=1.0)
    # sound (waveform)
    gain_db: tuple[float, float] = (-6.0, 6.0)
    noise_snr_db: tuple[float, float] = (15.0, 40.0)
    time_stretch: tuple[float, float] = (0.9, 1.1)
    pitch_shift: tuple[float, float] = (-2.0, 2.0)  # semitones
    # sound (spectrogram, SpecAugment)
    time_mask: int = Field(20, ge=0)  # frames
    freq_mask: int = Field(8, ge=0)  # mel bins
    # signal (sensor time series; each fires on half of the views, 0 turns one off)
    signal_time_mask: float = Field(0.1, ge=0.0, lt=1.0)  # longest masked span, fraction of the window
    signal_channel_mask: float = Field(0.2, ge=0.0, lt=1.0)  # fraction of channels zeroed
    magnitude_warp_sigma: float = Field(0.2, ge=0.0, le=2.0)  # std of the smooth curve around 1
    magnitude_warp_knots: int = Field(4, ge=1, le=64)
    jitter: float = Field(0.03, ge=0.0, le=2.0)  # Gaussian noise std, in channel standard deviations
    scaling: float = Field(0.1, ge=0.0, le=2.0)  # per-channel gain std around 1
    time_shift: float = Field(0.1, ge=0.0, lt=1.0)  # largest circular shift, fraction of the window


class AudioConfig(_Strict):
    """How audio files become fixed-length mono waveforms."""

    sample_rate: Optional[int] = Field(None, gt=0)  # None: the backbone's rate (16 kHz, CNN14 32 kHz)
    # seconds after crop / zero-pad; None: from the training clips (95th percentile of their
    # lengths, 0.5–10 s), written back into the run's config
    duration: Optional[float] = Field(5.0, gt=0.0, le=600.0)
    long_files: Literal["crop", "windows"] = "crop"  # windows: predict by voting over windows


class SignalConfig(_Strict):
    """How sensor recordings (CSV/NPY/NPZ, channels × time) become fixed-length windows, and the
    sizes of the from-scratch signal models."""

    sample_rate: Optional[float] = Field(None, gt=0.0, le=1e6)  # Hz; None: from the time column
    window: float = Field(2.0, gt=0.0, le=3600.0)  # seconds per model input
    hop: Optional[float] = Field(None, gt=0.0, le=3600.0)  # long recordings: seconds between windows (None: window / 2)
    pad: Literal["zeros", "edge"] = "zeros"  # shorter inputs: pad at the end with zeros or the last value
    crop: Literal["center", "start"] = "center"  # longer inputs: which part a window keeps
    layout: Literal["auto", "channels_first", "time_first"] = "auto"  # NPY/NPZ axes (CSV: columns are channels)
    time_column: Literal["auto", "none", "first"] = "auto"  # CSV: is the first column the time in seconds?
    standardize: bool = True  # per-channel, with statistics of the training split
    # model sizes (the rescnn family)
    downsample: Optional[int] = Field(None, ge=1, le=64)  # strided stem; None: auto (≤ 256 steps into the CNN)
    widths: list[int] = Field(default_factory=lambda: [32, 64, 64, 128], min_length=1, max_length=12)
    kernel_size: int = Field(9, ge=1, le=63)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    hidden_size: int = Field(64, ge=4, le=2048)  # LSTM/GRU hidden units per direction; transformer width
    layers: int = Field(2, ge=1, le=4)  # recurrent or transformer encoder layers
    heads: int = Field(4, ge=1, le=16)  # transformer attention heads (must divide hidden_size)

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("must be odd, so a convolution keeps the length")
        return v


class SplitConfig(_Strict):
    val: float = Field(0.15, ge=0.0, lt=0.9)
    test: float = Field(0.2, ge=0.0, lt=0.9)


class HealthConfig(_Strict):
    """Data-health checks that run before training (see :mod:`konstrukt.data.health`)."""

    strict: bool = False  # stop on leakage or label conflicts instead of warning
    remove_leaked: bool = True  # leave copies of training examples out of validation/test scores
    near_duplicates: bool = True  # search near duplicates (perceptual hash / audio fingerprint)
    mislabelled_top: int = Field(10, ge=0, le=1000)  # likely mislabelled examples to list after CV


class ResourcesConfig(_Strict):
    """What one training asks of a Ray cluster (``--executor ray``); the local worker ignores it."""

    cpus: float = Field(1.0, gt=0.0, le=1024)
    gpus: float = Field(0.0, ge=0.0, le=64)  # 1: the task waits for a node with a free GPU
    memory: Optional[float] = Field(None, gt=0.0, le=4096)  # GiB reserved on the node; None: no reservation


class TrainConfig(_Strict):
    """Everything that decides what a run does. Saved as ``config.json`` beside every run."""

    task: str = "image"  # a registered task (see konstrukt/modalities/)
    pipeline: str = "auto"
    strategy: Optional[Literal["probe", "head", "partial", "full"]] = None  # None: pipeline default
    pretrained: str = "default"  # default | none | a weight name (imagenet) | PATH
    partial_blocks: int = Field(2, ge=1)  # partial: how many last backbone blocks train
    # the classic hyperparams.json keys
    num_epochs: int = Field(10, ge=1, le=10000)
    learning_rate: float = Field(1e-4, gt=0.0, le=10.0)
    batch_size: int = Field(8, ge=1, le=4096)
    weight_decay: float = Field(1e-4, ge=0.0, le=1.0)
    # richer settings
    optimizer: OptimizerConfig = OptimizerConfig()
    head: Union[str, list[HeadBlock], None] = None  # preset name (linear, mlp) or blocks; None: pipeline default
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    grad_clip: Optional[float] = Field(None, gt=0.0)  # max gradient norm
    lr_schedule: ScheduleConfig = ScheduleConfig()
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    augment: AugmentConfig = AugmentConfig()
    audio: AudioConfig = AudioConfig()
    signal: SignalConfig = SignalConfig()
    # top up each class's training examples with augmented copies (bounded: see MAX_TRAIN_ITEMS)
    target_size: int = Field(50, ge=0, le=MAX_TARGET_SIZE)
    split: SplitConfig = SplitConfig()
    health: HealthConfig = HealthConfig()
    cv: Optional[int] = Field(None, ge=0, le=20)  # None: 5 when the data is small; 0: off
    small_data: int = Field(100, ge=0)  # "small" = fewer training+validation examples than this
    image_size: Optional[int] = Field(None, ge=16, le=1024)  # None: the backbone's size
    seed: int = Field(0, ge=0, lt=2**32)  # numpy's and torch's generators take 32-bit seeds
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    amp: bool = True  # mixed precision when on a GPU
    # processes preparing training examples; None: one while augmented examples train on Linux
    num_workers: Optional[int] = Field(None, ge=0, le=64)
    cache_dir: Optional[str] = None  # embedding cache; None: $KONSTRUKT_CACHE or ~/.cache/konstrukt
    resources: ResourcesConfig = ResourcesConfig()  # per training, on a Ray cluster

    @field_validator("task")
    @classmethod
    def _registered_task(cls, v: str) -> str:
        from .tasks import TASKS  # lazy: the modalities that fill TASKS import this module

        if v not in TASKS:
            raise ValueError(f"must be one of {', '.join(map(repr, TASKS.names()))}")
        return v

    @field_validator("optimizer", mode="before")
    @classmethod
    def _optimizer_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("lr_schedule", mode="before")
    @classmethod
    def _schedule_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else ({"name": "none"} if v is None else v)

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _early_bool(cls, v: Any) -> Any:
        return {"enabled": v} if isinstance(v, bool) else v


def _format_errors(err: ValidationError) -> list[str]:
    problems = []
    union_tags = {"str", "list[HeadBlock]", "none"}
    for e in err.errors():
        if "str" in e["loc"] and e["type"] == "string_type":
            continue  # `head` given as a list: the "should be a string" branch is noise
        key = ".".join(str(p) for p in e["loc"] if p not in union_tags) or "(config)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
            allowed = _allowed_keys(e["loc"])
            if allowed:
                msg += f"; allowed keys here: {', '.join(allowed)}"
        elif e["type"] == "literal_error":
            msg = f"must be one of {e['ctx']['expected']}, got {e['input']!r}"
        elif e["type"] == "value_error":  # our validators: the message is the whole story
            msg = f"{e['ctx']['error']}, got {e['input']!r}"
        else:
            msg = f"{msg}, got {e['input']!r}"
        problems.append(f"`{key}`: {msg}")
    return problems


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = TrainConfig
    for part in loc[:-1]:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        if model is None:
            return []
    return sorted(model.model_fields)


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or YAML config file into a dict (validated later, with everything else)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text or "{}")
    except Exception as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def build_config(*layers: dict[str, Any] | None) -> TrainConfig:
    """Merge config layers (lowest precedence first) and validate them all at once."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if layer:
            merged = _deep_merge(merged, {k: v for k, v in layer.items() if v is not None})
    try:
        return TrainConfig.model_validate(merged)
    except ValidationError as err:
        raise ConfigError("invalid configuration", _format_errors(err)) from None


def check_train_items(config: TrainConfig, examples: int, classes: int) -> None:
    """Refuse a job whose top-up would train on more than MAX_TRAIN_ITEMS items (examples plus
    augmented copies, at most ``target_size`` per class), before any of them is made."""
    copies = classes * config.target_size if config.augment.enabled else 0
    if examples + copies > MAX_TRAIN_ITEMS:
        raise ConfigError(
            f"`target_size` {config.target_size} × {classes} classes plus {examples} examples make up "
            f"to {examples + copies:,} training items; the limit is {MAX_TRAIN_ITEMS:,} per job",
            [f"Fix: lower `target_size` to at most {max(0, (MAX_TRAIN_ITEMS - examples) // max(classes, 1)):,}."])


def config_dict(config: TrainConfig) -> dict[str, Any]:
    """JSON-ready dict of a config (what is saved as ``config.json``)."""
    return config.model_dump(mode="json")
