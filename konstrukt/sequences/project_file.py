"""Sequence projects in a project file (:mod:`konstrukt.data.project_file`): the manifest says
``"kind": "sequence"`` and each sample carries its ``text``; the recordings sit in one implicit
class (``recordings``), as in the web app; the settings are :class:`SequenceConfig` keys.

Packed from a ``path,text`` labels CSV (the layout of whole files; windows of long recordings are
cut at training and cannot be one file each) and unpacked to one, so ``konstrukt train
out/labels.csv`` is a sequence run again.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..errors import DataError, KonstruktError
from .data import MAX_TEXT, read_text_csv, text_problem

KIND = "sequence"
BUCKET = "recordings"  # the one class a sequence project's recordings sit in


def text_problems(manifest) -> list[str]:
    """Every sample of a sequence manifest has a usable text; a classes manifest has none."""
    problems = []
    if manifest.kind == KIND and len(manifest.classes) != 1:
        problems.append(f"a sequence project lists one class (its recordings), not {len(manifest.classes)}")
    for s in manifest.samples:
        if manifest.kind != KIND:
            if s.text is not None:
                problems.append(f"sample {s.path!r}: has a `text` but the project's kind is {manifest.kind!r}")
            continue
        if s.text is None:
            problems.append(f"sample {s.path!r}: a sequence project's sample needs its `text`")
        elif len(s.text) > MAX_TEXT:
            problems.append(f"sample {s.path!r}: the text is {len(s.text)} characters long; at most {MAX_TEXT}")
        elif why := text_problem(s.text):
            problems.append(f"sample {s.path!r}: {why}")
    return problems[:50]


def settings_problems(task: str, settings: dict[str, Any]) -> list[str]:
    """What is wrong with a sequence manifest's task and settings (a :class:`SequenceConfig`)."""
    from .config import build_sequence_config
    from .dataset import hooks_of
    from .models import parse_variant

    try:
        hooks_of(task)
        parse_variant(build_sequence_config({**settings, "task": task}).pipeline)
    except KonstruktError as exc:
        return [f"settings: {p}" for p in exc.problems if not p.startswith("Fix:")] or [f"settings: {exc.message}"]
    return []


def sequence_rows(data: str | Path, *, task: str | None,
                  settings: dict[str, Any] | None) -> tuple[str, list[tuple[Path, str]]]:
    """(task, [(recording, text)] in the CSV's order) of a ``path,text`` labels CSV to pack into a
    project file (:func:`konstrukt.data.project_file.pack_dataset` writes it), checked first."""
    from .dataset import guess_task

    data = Path(data)
    layout, rows = read_text_csv(data)
    if layout != "files":
        raise DataError(f"{data.name}: a project file holds whole recordings with their text, not timed "
                        "events of long recordings", ["Fix: cut the recordings first, one file per text, "
                                                     "and list them in a `path,text` CSV."])
    if too_long := [r.path.name for r in rows if len(r.text) > MAX_TEXT]:
        raise DataError(f"{data.name}: {len(too_long)} text(s) longer than {MAX_TEXT} characters "
                        f"(e.g. {too_long[0]})", ["Fix: cut those recordings into shorter clips."])
    task = task or guess_task([r.path for r in rows])
    if problems := settings_problems(task, dict(settings or {})):
        raise DataError("these settings cannot go into a project file", problems)
    return task, [(r.path, r.text) for r in rows]


def write_text_csv(contents, path: Path) -> None:
    """The unpacked project's ``path,text`` labels CSV, in the project's order."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["path", "text"])
        writer.writerows((e.path, e.text) for e, _ in contents.files)
