"""Long recordings + a labels CSV ``file,start,end,label[,subject]`` → labelled windows, grouped.

Each row names a recording (relative to the CSV) and a labelled segment in seconds. A segment is
cut into windows of ``window`` seconds, ``hop`` apart (the task's config section). Every window
carries a *group* — its recording, or its subject when a ``subject`` column is given — and splits
and CV folds keep groups whole: neighbouring windows of one recording are nearly the same example,
so letting them straddle train and test would report a fantasy.

Refused, with the CSV row named: a missing file, a file of the wrong type, a non-numeric time, an
end at or before its start, and overlapping segments of one file with different labels. A segment
shorter than one window is skipped with a warning.
"""
from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

from ..errors import DataError
from ..words import a, count

REQUIRED = ("file", "start", "end", "label")


def is_segments_csv(path: Path) -> bool:
    """Does the CSV's header name the segment columns ``file,start,end,label``?"""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return set(REQUIRED) <= {c.strip().lower() for c in header}


def _rows(path: Path) -> list[tuple[int, dict]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        return [(n, {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()})
                for n, row in enumerate(reader, start=2)]


def _window_settings(task, config) -> tuple[float, float]:
    from ..config import TrainConfig
    from ..tasks import MODALITIES

    section = MODALITIES.get(task.modality).config_section
    cfg = getattr(config or TrainConfig(task=task.name), section or "", None)
    if cfg is None or not hasattr(cfg, "window"):
        raise DataError(f"a labels CSV of segments (file,start,end,label) works for tasks that cut "
                        f"recordings into windows, not for {task.name}",
                        ["Fix: give a folder with one sub-folder per class, or a CSV with path,label."])
    return float(cfg.window), float(cfg.hop or cfg.window / 2)


def _parse(path: Path, task, problems: list[str]) -> list[dict]:
    """Checked rows: {'row', 'file', 'start', 'end', 'label', 'subject'}."""
    from .labels import LabelProblems

    out, labels = [], LabelProblems(problems)
    for n, row in _rows(path):
        where = f"{path.name} row {n}"
        name = row.get("file", "")
        file = (path.parent / name).resolve()
        try:
            start, end = float(row.get("start", "")), float(row.get("end", ""))
        except ValueError:
            problems.append(f"{where}: start {row.get('start')!r} / end {row.get('end')!r} must be "
                            "numbers of seconds")
            continue
        if not name or not row.get("label"):
            problems.append(f"{where}: `file` and `label` must not be empty")
        elif not labels.ok(row["label"], where):
            continue  # the label is named once among the problems
        elif not file.is_file():
            problems.append(f"{where}: file not found: {name}")
        elif file.suffix.lower() not in task.extensions:
            problems.append(f"{where}: {name} is not {a(task.name)} file "
                            f"({', '.join(sorted(task.extensions))})")
        elif start < 0 or end <= start:
            problems.append(f"{where}: end {end:g} s is not after start {start:g} s")
        else:
            out.append({"row": n, "file": file, "name": name, "start": start, "end": end,
                        "label": row["label"], "subject": row.get("subject", "")})
    labels.finish()
    return out


def _overlaps(path: Path, rows: list[dict]) -> list[str]:
    """Segments of one file that overlap with different labels (which label is true?)."""
    by_file: dict[Path, list[dict]] = defaultdict(list)
    for r in rows:
        by_file[r["file"]].append(r)
    problems = []
    for segs in by_file.values():
        segs.sort(key=lambda r: r["start"])
        for i, a in enumerate(segs):
            for b in segs[i + 1:]:
                if b["start"] >= a["end"]:
                    break
                if b["label"] != a["label"]:
                    problems.append(f"{path.name} rows {a['row']} and {b['row']}: segments of {a['name']} "
                                    f"overlap ({a['start']:g}–{a['end']:g} s `{a['label']}`, "
                                    f"{b['start']:g}–{b['end']:g} s `{b['label']}`) with different labels")
    return problems


def read_segments(path: Path, task, config=None):
    """The labelled windows of every segment in the labels CSV ``path`` (a Dataset)."""
    from .samples import Dataset, Sample, file_digest

    window, hop = _window_settings(task, config)
    problems: list[str] = []
    rows = _parse(path, task, problems)
    problems += _overlaps(path, rows)
    if problems:
        raise DataError(f"cannot use the labels in {path.name}", problems)
    digests = {f: file_digest(f) for f in {r["file"] for r in rows}}
    samples, warnings, short = [], [], []
    for r in rows:
        group = f"subject {r['subject']}" if r["subject"] else f"recording {r['name']}"
        t, made = r["start"], 0
        while t + window <= r["end"] + 1e-9:
            key = f"{digests[r['file']]}|{t:.6f}|{window:.6f}"
            samples.append(Sample(r["file"], r["label"], None, hashlib.sha256(key.encode()).hexdigest(),
                                  start=t, end=t + window, group=group, origin=f"{path.name} row {r['row']}"))
            t, made = t + hop, made + 1
        if not made:
            short.append(f"row {r['row']} ({r['end'] - r['start']:g} s)")
    if short:
        warnings.append(f"{path.name}: skipped {count(len(short), 'segment')} shorter than one window "
                        f"({window:g} s): {', '.join(short[:8])}{' …' if len(short) > 8 else ''}")
    classes = sorted({s.label for s in samples})
    if len(classes) < 2:
        raise DataError(f"{path.name}: its segments give windows of {count(len(classes), 'class')} "
                        f"({', '.join(classes) or 'none'}); at least 2 are needed",
                        ["Fix: label segments of at least two classes, each at least one window long "
                         f"({window:g} s), or lower `signal.window`."])
    return Dataset(samples, classes, str(path), warnings, root=path.parent.resolve())
