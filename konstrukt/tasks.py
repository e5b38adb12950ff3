"""Tasks and modalities: the records each modality registers, and their registries.

A *modality* (image, audio, …) is everything konstrukt knows about one kind of input file: which
files it reads, how a file becomes a model input (its preprocessor and augmentations), how a long
recording is cut into windows, what a model input looks like, and what the browser can capture.
A *task* (image, sound, speech, …) is what a user picks: a modality plus the pipeline ``auto``
chooses. Each modality registers both from its own package under ``konstrukt/modalities/``.

``default_pipeline`` is the recommended one (pretrained weights); ``offline_pipeline`` trains from
scratch and is what the demo and the tests use. ``auto_pretrained`` / ``auto_scratch`` are the
candidates ``auto`` decides between on this machine (:mod:`konstrukt.auto`).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

from .registry import Registry

if TYPE_CHECKING:
    from .data.measure import HealthHooks
    from .sequences.hooks import SequenceHooks
    from .reference import ReferenceSpec


@dataclass(frozen=True)
class UICapabilities:
    """What the browser UI offers for a modality (served by ``GET /api/tasks``)."""

    accept: tuple[str, ...]  # the upload picker's `accept`: extensions and MIME patterns
    capture: Literal["webcam", "microphone", "motion", "none"] = "none"  # live capture for samples and Try it
    preview: Literal["image", "audio", "file"] = "file"  # how a stored sample is shown
    capture_seconds: float = 3.0  # microphone: length of a Try-it recording; motion: the default window


@dataclass(frozen=True)
class ExportHooks:
    """How a modality's runs leave konstrukt: looked up by export/, the bundle loader and the model
    card instead of branching on its name. The records the callables return are in
    :mod:`konstrukt.exporting.hooks`; a wing fills these in from its ``export.py``."""

    noun: str = "file"  # the model card: "Classifies a <noun> into one of …"
    reader_dists: tuple[str, ...] = ()  # what a bundle's predict.py reads the files with
    torch_dists: tuple[str, ...] = ()  # more for the PyTorch predict script (image: torchvision)
    describe: Optional[Callable[[dict], str]] = None  # saved preprocessing settings in words (card)
    onnx_input: Optional[Callable[[str], Any]] = None  # backbone -> OnnxInput (None: the default)
    int8: Optional[Callable[[str], Any]] = None  # backbone -> Int8Policy (None: static, calibrated)
    # preprocessor -> how the exported model's input differs from konstrukt's: wrap(model),
    # to_graph(inputs), extra_state() (None: it does not; see export.hooks.IdentityAdapter)
    adapter: Optional[Callable[[Any], Any]] = None
    # the exported web page's input part: () -> its JS source (the wing's web.js; None: no page)
    web_script: Optional[Callable[[], str]] = None


@dataclass(frozen=True)
class Modality:
    """One kind of input, registered in one place (``konstrukt/modalities/<name>/``).

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
    # a saved preprocessor rebuilt from its settings (``Preprocessor.from_state``; their ``kind``
    # is the modality's name)
    restore_preprocessor: Optional[Callable[[dict], Any]] = None
    # Loaders of the modality's own parts, imported on first use (registration stays light):
    # data health (konstrukt/data/health.py) — how a file is measured and searched for near
    # duplicates (None: only the checks that need no reading: exact copies, counts, leakage) —
    # and the simple baseline's features (konstrukt/reference.py; None: no baseline).
    health: Optional[Callable[[], "HealthHooks"]] = None
    reference: Optional[Callable[[], "ReferenceSpec"]] = None
    # where runs and files cross konstrukt's edge: export and bundles, a saved preprocessor rebuilt
    # from its settings (``Preprocessor.from_state``), the service's extra rule for an upload
    export: ExportHooks = ExportHooks()
    check_upload: Optional[Callable[[Path], None]] = None  # raises DataError (audio: too short)
    # what varied examples of this kind differ in, for advice ("more varied examples (…)")
    variety: str = "other conditions and sources"
    # sequence runs (recording → text, konstrukt/sequences/): how files are read whole and the
    # per-frame front end (None: the modality has no sequence runs)
    sequence: Optional[Callable[[], "SequenceHooks"]] = None


@dataclass(frozen=True)
class Demo:
    """A task's part of ``konstrukt demo``: offline data it writes, trains on and tries."""

    title: str  # the part's heading
    unseen: str  # what its unseen example files are, in words ("digits")
    run: Callable[..., dict]  # (out, verbose=) -> {"report", "run", "data", "new_files", "predictions"}


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
    demo: Optional[Demo] = None  # its part of `konstrukt demo`, if it has one


MODALITIES: Registry[Modality] = Registry("modality", explicit=True)
TASKS: Registry[TaskSpec] = Registry("task", explicit=True)


def register_modality(modality: Modality, tasks: tuple[TaskSpec, ...] = ()) -> None:
    """Register a modality and the tasks it serves."""
    MODALITIES.add(modality.name, modality)
    for task in tasks:
        TASKS.add(task.name, task)


def task_modality(task: str) -> Modality:
    """The modality that reads a task's files."""
    return MODALITIES.get(TASKS.get(task).modality)
