"""Tasks and modalities: the records each modality registers, and their registries.

A *modality* (image, audio, …) is everything konstrukt knows about one kind of input file: which
files it reads, how a file becomes a model input (its preprocessor and augmentations), how a long
recording is cut into windows, what a model input looks like, and what the browser can capture.
A *task* (image, sound, speech, …) is what a user picks: a modality plus the pipeline ``auto``
chooses. Each modality registers both from its own file under ``konstrukt/modalities/``.

``default_pipeline`` is the recommended one (pretrained weights); ``offline_pipeline`` trains from
scratch and is what the demo and the tests use. ``auto_pretrained`` / ``auto_scratch`` are the
candidates ``auto`` decides between on this machine (:mod:`konstrukt.auto`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional

from .registry import Registry, load_modalities


@dataclass(frozen=True)
class UICapabilities:
    """What the browser UI offers for a modality (served by ``GET /api/tasks``)."""

    accept: tuple[str, ...]  # the upload picker's `accept`: extensions and MIME patterns
    capture: Literal["webcam", "microphone", "none"] = "none"  # live capture for samples and Try it
    preview: Literal["image", "audio", "file"] = "file"  # how a stored sample is shown
    capture_seconds: float = 3.0  # microphone: length of a Try-it recording


@dataclass(frozen=True)
class Modality:
    """One kind of input, registered in one place (``konstrukt/modalities/<name>.py``).

    Callables receive the backbone's :class:`~konstrukt.models.backbones.BackboneSpec` (whose
    ``input`` record holds the modality's own input settings) and the run's ``TrainConfig``.
    """

    name: str
    extensions: frozenset[str]  # lower-case, with the dot
    preprocessor: Callable[[Any, Any], Any]  # (backbone spec, config) -> Preprocessor
    augmentations: Callable[[], Registry]  # the train-time augmentations, by name
    example_input: Callable[..., Any]  # (backbone spec, batch, small=False) -> random input tensor
    ui: UICapabilities
    config_section: Optional[str] = None  # its settings' key in TrainConfig (e.g. "audio")
    # Long recordings at prediction: (preprocessor, path, config) -> the file's windows, or None
    # to read the file as one input. Every window is classified; the file gets their mean.
    windows: Optional[Callable[[Any, Path, Any], Optional[list]]] = None
    description: str = ""
    # what varied examples of this kind differ in, for advice ("more varied examples (…)")
    variety: str = "other conditions and sources"


@dataclass(frozen=True)
class TaskSpec:
    name: str
    modality: str  # the registered modality that reads its files
    extensions: frozenset[str]
    default_pipeline: str
    offline_pipeline: str
    description: str = ""
    # `compare --pipelines recommended`: the short list worth comparing on this task
    # (empty: the recommended and the offline pipeline)
    shortlist: tuple[str, ...] = ()
    # `auto` (see konstrukt/auto.py): the pretrained pipelines to start from, best first — the first
    # whose weights are on this machine is used; names not registered are skipped — and the
    # from-scratch pipeline of its CV contest ("": none). Empty: `auto` is `default_pipeline`.
    auto_pretrained: tuple[str, ...] = ()
    auto_scratch: str = ""


MODALITIES: Registry[Modality] = Registry("modality", populate=load_modalities)
TASKS: Registry[TaskSpec] = Registry("task", populate=load_modalities)


def register_modality(modality: Modality, tasks: tuple[TaskSpec, ...] = ()) -> None:
    """Register a modality and the tasks it serves."""
    MODALITIES.add(modality.name, modality)
    for task in tasks:
        TASKS.add(task.name, task)


def task_modality(task: str) -> Modality:
    """The modality that reads a task's files."""
    return MODALITIES.get(TASKS.get(task).modality)
