"""A sequence labels CSV → decoded examples: which task reads the files, each recording read once
(at one rate), long recordings cut into event windows."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..tasks import MODALITIES, TASKS, task_modality
from .data import SeqExample, cut_windows, read_text_csv


@dataclass
class Loaded:
    """The examples of one CSV, with their (C, T) arrays at ``rate``."""

    task: str
    layout: str
    examples: list[SeqExample]
    arrays: list[np.ndarray]
    rate: float
    channels: int
    warnings: list[str] = field(default_factory=list)

    def texts(self, idx: list[int] | None = None) -> list[str]:
        return [self.examples[i].text for i in (range(len(self.examples)) if idx is None else idx)]


def sequence_tasks() -> list[str]:
    """Tasks whose modality lends sequence runs (registry order)."""
    return [t for t in TASKS.names() if MODALITIES.get(TASKS.get(t).modality).sequence is not None]


def guess_task(paths: list[Path]) -> str:
    """The first sequence task that reads every file's type."""
    suffixes = {p.suffix.lower() for p in paths}
    for name in sequence_tasks():
        if suffixes <= TASKS.get(name).extensions:
            return name
    raise DataError(f"no sequence task reads files of type {', '.join(sorted(suffixes))}",
                    [f"Fix: use recordings one task reads ({', '.join(sequence_tasks())}), or name it with --task"])


def hooks_of(task: str):
    """The task's modality's sequence hooks; a ConfigError when it has none."""
    modality = task_modality(task)
    if modality.sequence is None:
        raise ConfigError(f"task {task!r} has no sequence runs (a labels CSV with a text column)",
                          [f"Fix: --task one of {', '.join(sequence_tasks())}"])
    return modality.sequence()


def read_all(files: list[Path], hooks, rate: float | None) -> tuple[dict[Path, np.ndarray], float]:
    """Every file once, at one rate (the given one, the modality's, else the first file's)."""
    rate = rate or hooks.default_rate
    arrays: dict[Path, np.ndarray] = {}
    for f in files:
        arrays[f], rate = hooks.read(f, rate)
    channels = {a.shape[0] for a in arrays.values()}
    if len(channels) > 1:
        first = next(iter(arrays.values())).shape[0]
        odd = [f.name for f, a in arrays.items() if a.shape[0] != first][:5]
        raise DataError(f"the recordings have different channel counts ({', '.join(map(str, sorted(channels)))})",
                        [f"e.g. {', '.join(odd)} differ from the first file's {first} channels",
                         "Fix: record every file with the same sensors, or leave the odd ones out"])
    return arrays, float(rate)


def load(data: str | Path, settings, task: str | None = None, rate: float | None = None) -> Loaded:
    """Read ``data`` (a sequence labels CSV) as ``settings`` say; ``task``/``rate``: a trained
    run's (evaluation reads other data as the run was trained)."""
    layout, rows = read_text_csv(data)
    files = list(dict.fromkeys(r.path if layout == "files" else r.file for r in rows))
    task = task or settings.task or guess_task(files)
    hooks = hooks_of(task)
    arrays, rate = read_all(files, hooks, rate or settings.sample_rate)
    warnings: list[str] = []
    if layout == "files":
        examples = rows
        xs = [arrays[e.path] for e in examples]
    else:
        hop = settings.hop or settings.window / 2
        durations = {f: a.shape[1] / rate for f, a in arrays.items()}
        examples = cut_windows(rows, durations, settings.window, hop, " " if settings.tokens == "space" else "")
        xs = [arrays[e.path][:, int(round(e.start * rate)):max(int(round(e.end * rate)), int(round(e.start * rate)) + 1)]
              for e in examples]
        empty = sum(not e.text for e in examples)
        if empty:
            warnings.append(f"{empty} of {len(examples)} windows hold no event (they teach the model silence)")
    return Loaded(task, layout, examples, xs, rate, int(xs[0].shape[0]), warnings)
