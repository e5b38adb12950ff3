"""Tasks (modalities): which files they accept and which pipeline ``auto`` picks.

``default_pipeline`` is the recommended one (pretrained weights); ``offline_pipeline`` trains from
scratch and is what the demo and the tests use.
"""
from __future__ import annotations

from dataclasses import dataclass

from .registry import Registry


@dataclass(frozen=True)
class TaskSpec:
    name: str
    modality: str  # which preprocessor decodes its files: image | audio | signal
    extensions: frozenset[str]
    default_pipeline: str
    offline_pipeline: str
    description: str = ""


TASKS: Registry[TaskSpec] = Registry("task")

_IMAGE_EXT = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
_AUDIO_EXT = frozenset({".wav", ".flac", ".ogg", ".mp3"})

TASKS.add("image", TaskSpec(
    "image", "image", _IMAGE_EXT, default_pipeline="efficientnet_b0", offline_pipeline="scratch_cnn",
    description="image classification (jpg/png/webp/bmp, any size, RGB/gray/RGBA)",
))

# --------------------------------------------------------------------------- audio tasks
TASKS.add("sound", TaskSpec(
    "sound", "audio", _AUDIO_EXT, default_pipeline="panns_cnn14_mlp", offline_pipeline="scratch_melcnn",
    description="sound classification (wav/flac/ogg/mp3, any rate/channels/length)",
))
TASKS.add("speech", TaskSpec(
    "speech", "audio", _AUDIO_EXT, default_pipeline="wav2vec2_auto", offline_pipeline="scratch_melcnn",
    description="spoken intent / keyword classification (as sound, speech recordings)",
))
