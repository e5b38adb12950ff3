"""Sequence data: labels CSVs with text, the alphabet, event windows and grouped splits.

Three CSV layouts (header names, any order, case-insensitive; paths relative to the CSV):

* ``path,text[,subject]`` — each file is one example, its text what it says / what was typed;
* ``file,start,end,text[,subject]`` — timed events (seconds) in long recordings;
* ``file,time,key[,subject]`` — keystroke timestamps (seconds) in long recordings.

Long recordings are cut into windows of ``window`` seconds every ``hop`` seconds; a window's text
is the events that lie inside it, in time order (an event that straddles a window edge is left
out of that window's text — as the sEMG-keystroke study cuts its windows). Windows of one
recording — and every recording of one subject — stay in one split and one CV fold.
"""
from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

TOKEN_MODES = ("chars", "space")
MAX_TEXT = 500  # characters of one recording's text in a project (a sentence or a few)


@dataclass
class SeqExample:
    """One training example: (part of) a recording and its text."""

    path: Path
    text: str
    group: str  # what must stay in one split: the subject, else the recording
    start: float | None = None  # seconds into the recording (a window of a long recording)
    end: float | None = None


@dataclass
class Event:
    file: Path
    start: float
    end: float
    text: str
    group: str


def _header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return [c.strip().lower() for c in next(csv.reader(f), [])]
    except (OSError, UnicodeDecodeError):
        return []


def csv_layout(path: str | Path) -> str | None:
    """``files`` (path,text), ``events`` (file,start,end,text), ``keys`` (file,time,key) or None
    when ``path`` is not a sequence labels CSV."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".csv"):
        return None
    cols = set(_header(path))
    if {"file", "start", "end", "text"} <= cols:
        return "events"
    if {"file", "time", "key"} <= cols:
        return "keys"
    if {"path", "text"} <= cols:
        return "files"
    return None


def is_text_csv(path: str | Path) -> bool:
    """Does ``path`` name a labels CSV with text (a sequence run) rather than classes?"""
    return csv_layout(path) is not None


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a target (a control character would break reports), or None."""
    bad = next((c for c in text if not c.isprintable()), None)
    return None if bad is None else f"text {text[:30]!r} holds a character that is not printable (U+{ord(bad):04X})"


def _number(row: dict, key: str, where: str, problems: list[str]) -> float | None:
    try:
        value = float(row[key])
    except (TypeError, ValueError):
        problems.append(f"{where}: `{key}` is {row.get(key)!r}, not a number of seconds")
        return None
    if not math.isfinite(value) or value < 0:
        problems.append(f"{where}: `{key}` is {value}, it must be a finite number ≥ 0")
        return None
    return value


def read_text_csv(path: str | Path) -> tuple[str, list]:
    """(layout, rows): :class:`SeqExample` per file for ``files``, :class:`Event` per row otherwise.
    Every bad row is collected and raised at once as a DataError naming the CSV, row and fix."""
    path = Path(path)
    layout = csv_layout(path)
    if layout is None:
        raise DataError(f"{path.name}: not a sequence labels CSV",
                        ["Fix: give a header `path,text`, `file,start,end,text` or `file,time,key`"])
    problems: list[str] = []
    rows: list = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for n, row in enumerate(csv.DictReader(f), start=2):
            row = {(k or "").strip().lower(): (v if v is not None else "") for k, v in row.items()}
            where = f"{path.name} row {n}"
            name = (row.get("path") if layout == "files" else row.get("file")) or ""
            if not name.strip():
                problems.append(f"{where}: the file column is empty")
                continue
            file = (path.parent / name.strip()).resolve()
            if not file.is_file():
                problems.append(f"{where}: file {name.strip()!r} not found (paths are relative to the CSV)")
                continue
            text = row.get("key", "") if layout == "keys" else row.get("text", "")
            why = text_problem(text)
            if why:
                problems.append(f"{where}: {why}")
                continue
            group = row.get("subject", "").strip() or str(file)
            if layout == "files":
                rows.append(SeqExample(file, text, group))
                continue
            if layout == "keys":
                start = end = _number(row, "time", where, problems)
            else:
                start, end = _number(row, "start", where, problems), _number(row, "end", where, problems)
                if start is not None and end is not None and end < start:
                    problems.append(f"{where}: end {end} is before start {start}")
                    continue
            if start is not None and end is not None:
                rows.append(Event(file, start, end, text, group))
    if not rows and not problems:
        problems.append(f"{path.name}: no rows below the header")
    if problems:
        raise DataError(f"{path.name}: cannot read the sequence labels", problems[:20] + (
            [f"… and {len(problems) - 20} more"] if len(problems) > 20 else []))
    return layout, rows


def cut_windows(events: list[Event], durations: dict[Path, float], window: float, hop: float,
                separator: str = "") -> list[SeqExample]:
    """Windows of ``window`` s every ``hop`` s over each recording (``durations``: seconds); a
    window's text is its events (those wholly inside it) in time order, joined by ``separator``."""
    if window <= 0 or hop <= 0:
        raise DataError(f"window ({window}) and hop ({hop}) must be > 0 seconds",
                        ["Fix: --window S and --hop S (e.g. --window 4 --hop 2)"])
    by_file: dict[Path, list[Event]] = {}
    for e in events:
        by_file.setdefault(e.file, []).append(e)
    out: list[SeqExample] = []
    for file, evs in by_file.items():
        evs.sort(key=lambda e: (e.start, e.end))
        total = durations[file]
        starts = [0.0] if total <= window else [k * hop for k in range(int((total - window) / hop + 1e-9) + 1)]
        for s in starts:
            # a keystroke (start == end) belongs to [s, s + window): not to two touching windows
            e_in = [e.text for e in evs if e.start >= s
                    and (e.end < s + window if e.start == e.end else e.end <= s + window)]
            out.append(SeqExample(file, separator.join(e_in), evs[0].group, s, min(s + window, total)))
    return out


class Alphabet:
    """Token ↔ id (0 is the CTC blank), read from the training split's texts.

    ``mode``: ``chars`` — every character is a token; ``space`` — space-separated tokens (words,
    key names, digit words)."""

    def __init__(self, tokens: list[str], mode: str = "chars"):
        if mode not in TOKEN_MODES:
            raise DataError(f"tokens must be one of {', '.join(TOKEN_MODES)}, got {mode!r}")
        self.tokens, self.mode = list(tokens), mode
        self.index = {t: i + 1 for i, t in enumerate(self.tokens)}

    @classmethod
    def from_texts(cls, texts: list[str], mode: str = "chars") -> "Alphabet":
        units = sorted({u for t in texts for u in cls.split(t, mode)})
        return cls(units, mode)

    @staticmethod
    def split(text: str, mode: str) -> list[str]:
        return text.split() if mode == "space" else list(text)

    def __len__(self) -> int:  # with the blank
        return len(self.tokens) + 1

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        """(ids of the known tokens, the unknown ones): a token never seen in training is left out
        of the target and reported, not crashed on."""
        units = self.split(text, self.mode)
        return [self.index[u] for u in units if u in self.index], [u for u in units if u not in self.index]

    def decode(self, ids: list[int]) -> str:
        return (" " if self.mode == "space" else "").join(self.tokens[i - 1] for i in ids if 0 < i <= len(self.tokens))

    def unseen(self, texts: list[str]) -> dict[str, int]:
        """Tokens of ``texts`` that are not in the alphabet, with how often they occur."""
        out: dict[str, int] = {}
        for t in texts:
            for u in self.encode(t)[1]:
                out[u] = out.get(u, 0) + 1
        return dict(sorted(out.items()))

    def state(self) -> dict:
        return {"tokens": self.tokens, "mode": self.mode}


def group_split(groups: list[str], val: float, test: float, seed: int) -> dict[str, list[int]]:
    """Train / val / test indices with every group (recording, subject) in one split; seeded."""
    names = sorted(set(groups))
    if len(names) < 3 and (val or test):
        raise DataError(f"{len(names)} recording/subject group(s): at least 3 are needed for a "
                        "train/validation/test split",
                        ["Fix: add recordings, or use more files (each file is a group unless "
                         "a `subject` column joins them)"])
    random.Random(seed).shuffle(names)
    n_test = max(1, round(test * len(names))) if test else 0
    n_val = max(1, round(val * len(names))) if val else 0
    if n_test + n_val >= len(names):
        n_val = max(0, len(names) - n_test - 1)
    held = {"test": set(names[:n_test]), "val": set(names[n_test:n_test + n_val])}
    split = {"train": [], "val": [], "test": []}
    for i, g in enumerate(groups):
        split["test" if g in held["test"] else "val" if g in held["val"] else "train"].append(i)
    return split


def group_folds(groups: list[str], k: int, seed: int) -> list[tuple[list[int], list[int]]]:
    """K folds (train positions, held-out positions) over ``groups``, whole groups held out."""
    names = sorted(set(groups))
    k = min(k, len(names))
    if k < 2:
        return []
    random.Random(seed + 1).shuffle(names)
    fold_of = {g: i % k for i, g in enumerate(names)}
    return [([i for i, g in enumerate(groups) if fold_of[g] != f],
             [i for i, g in enumerate(groups) if fold_of[g] == f]) for f in range(k)]
