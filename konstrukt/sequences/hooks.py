"""What a modality lends sequence runs (the ``Modality.sequence`` hook): how its files are read
and the front end that turns a raw batch into per-frame features.

A modality's wing (``konstrukt/modalities/<name>/sequence.py``) builds a :class:`SequenceHooks`;
the sequence core never asks which modality it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
from torch import nn


@dataclass(frozen=True)
class SequenceHooks:
    # (path, rate or None: the file's own) -> ((C, T) float32 array, rate in Hz); DataError names the file
    read: Callable[[Path, Optional[float]], tuple[np.ndarray, float]]
    # (channels, rate, state or None) -> a front-end module: (B, C, T) raw → (B, F, T') features,
    # with ``out_channels`` (F), ``frames(T) -> T'`` and ``fit(list of (C, T) arrays)`` (training
    # data statistics kept as buffers, saved with the weights)
    frontend: Callable[[int, float], nn.Module]
    default_rate: Optional[float] = None  # files are resampled to this rate (None: the first file's)
    feature_mask: int = 1  # SpecAugment: widest masked stripe of feature channels (mel bins / channels)
    noun: str = "recording"
    # other front ends by name (the config's `frontend`), each a factory like ``frontend``; the
    # default one is ``frontend`` itself, named ``default_name``
    frontends: Mapping[str, Callable[[int, float], nn.Module]] = field(default_factory=dict)
    default_name: str = "default"
    # `frontend: auto` picks this name (e.g. a pretrained front end when its weights are here);
    # None: the default
    auto: Optional[Callable[[], str]] = None
    # front-end name -> the config values it trains best with, for the fields a config leaves unset
    defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every front end this modality offers, the default first."""
        return [self.default_name, *[n for n in self.frontends if n != self.default_name]]

    def resolve(self, name: str) -> str:
        """The concrete front-end name for a config's ``frontend`` (``auto`` decided here)."""
        if name == "auto":
            return self.auto() if self.auto else self.default_name
        if name not in self.names():
            from ..errors import ConfigError
            raise ConfigError(f"unknown sequence front end `{name}`",
                              [f"Fix: `frontend` is one of: auto, {', '.join(self.names())}"])
        return name

    def factory(self, name: str) -> Callable[[int, float], nn.Module]:
        """The front-end factory of a resolved name."""
        name = self.resolve(name)
        return self.frontend if name == self.default_name else self.frontends[name]
