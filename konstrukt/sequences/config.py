"""The settings of a sequence run (one typed record: the CLI, a config file and the saved run
read the same fields)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError

# flags of `konstrukt train` that mean the same here; the rest are for classification runs
_FLAG_KEYS = {"task", "pipeline", "num_epochs", "learning_rate", "batch_size", "weight_decay", "cv",
              "seed", "device"}
_SECTION_KEYS = {"sample_rate": "sample_rate", "window": "window", "hop": "hop"}


class SequenceConfig(BaseModel):
    """Every setting of a sequence run, with its default."""

    model_config = ConfigDict(extra="forbid")

    task: Optional[str] = None  # None: from the files' types
    pipeline: str = "auto"  # a model variant (konstrukt.sequences.models), auto: the default one
    frontend: str = "auto"  # the modality's front end by name (its wing's sequence.py); saved resolved
    tokens: Literal["chars", "space"] = "chars"
    num_epochs: int = Field(80, ge=1, le=10_000)
    learning_rate: float = Field(2e-3, gt=0, le=1)
    batch_size: int = Field(8, ge=1, le=4096)  # small: more steps, CTC leaves all-blank sooner
    weight_decay: float = Field(1e-2, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    patience: int = Field(15, ge=1)  # early stopping on the validation CTC loss
    cv: Optional[int] = Field(None, ge=0, le=20)  # None: 5 folds under `small_data` examples
    small_data: int = 100
    val: float = Field(0.15, ge=0, lt=0.9)
    test: float = Field(0.2, ge=0, lt=0.9)
    seed: int = 0
    device: str = "auto"
    sample_rate: Optional[float] = Field(None, gt=0)  # None: the modality's, else the first file's
    window: float = Field(4.0, gt=0)  # long recordings with timed events: seconds per window
    hop: Optional[float] = Field(None, gt=0)  # None: window / 2
    beam: int = Field(1, ge=1, le=256)  # decoding beam width (1: greedy)
    widths: list[int] = Field(default_factory=lambda: [64, 128], min_length=1, max_length=6)
    hidden_size: int = Field(128, ge=4, le=2048)
    layers: int = Field(2, ge=1, le=8)
    heads: int = Field(4, ge=1, le=32)
    time_mask: float = Field(0.05, ge=0, le=5)  # SpecAugment: widest masked time stripe, in seconds
    feature_mask: Optional[int] = Field(None, ge=0)  # None: the modality's
    gain: float = Field(0.0, ge=0, lt=1)  # training: random gain per example and channel, 1 ± gain
    time_shift: float = Field(0.0, ge=0, le=60)  # training: up to this many seconds cut from the start
    stretch: float = Field(0.0, ge=0, lt=1)  # training: random time stretch, 1 ± stretch of the length
    views: int = Field(1, ge=1, le=32)  # frozen front ends: augmented copies of each training example


def build_sequence_config(config: Any = None, overrides: dict | None = None) -> SequenceConfig:
    """Config file / dict (its ``sequence`` section, if any, wins) < flags → a validated config."""
    from ..config import read_config_file

    layer = read_config_file(config) if isinstance(config, (str, Path)) else dict(config or {})
    layer = {**{k: v for k, v in layer.items() if k != "sequence"}, **layer.get("sequence", {})}
    problems = []
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if isinstance(value, dict):  # a section of flags (`--window` is `signal.window`)
            layer.update({_SECTION_KEYS[k]: v for k, v in value.items() if k in _SECTION_KEYS and v is not None})
            problems += [f"`{key}.{k}` is not used by sequence runs" for k in value if k not in _SECTION_KEYS]
        elif key in _FLAG_KEYS or key in SequenceConfig.model_fields:
            layer[key] = value
        else:
            problems.append(f"`{key}` is not used by sequence runs (a labels CSV with a text column)")
    if problems:
        raise ConfigError("invalid configuration for a sequence run", problems + [
            "Fix: leave those flags out; the settings of sequence runs are in docs/sequences.md"])
    try:
        return SequenceConfig.model_validate(layer)
    except ValidationError as err:
        raise ConfigError("invalid sequence configuration", [
            f"`{'.'.join(map(str, e['loc']))}`: {e['msg']}" for e in err.errors()]) from None


def with_defaults(settings: SequenceConfig, defaults) -> SequenceConfig:
    """``defaults`` (what a front end trains best with) for the fields ``settings`` left unset
    (``pipeline: auto`` counts as unset), validated like any config."""
    given = settings.model_fields_set - ({"pipeline"} if settings.pipeline == "auto" else set())
    layer = {k: v for k, v in (defaults or {}).items() if k not in given}
    return SequenceConfig.model_validate({**settings.model_dump(exclude_unset=True), **layer}) if layer else settings
