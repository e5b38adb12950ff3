"""Uploads of a sequence project: recordings with their text.

Two ways in: a zip holding a CSV (``path,text``, paths relative to the CSV) and the recordings it
names, or one recording with its text typed beside it (the recorder). Every text is checked here
(length, printable characters) and every recording by the task's modality, as any upload is; a CSV
with bad rows is refused as a whole, each bad row named, so nothing half-labelled is stored.
"""
from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import ConfigError, DataError, KonstruktError
from ..sequences.data import MAX_TEXT, text_problem  # noqa: F401 -- MAX_TEXT: read here
from .storage import Checked, TooLarge, copy_limited, display_name, safe_suffix, unzip_budget

MAX_ROWS = 10_000
SEQUENCE = "sequence"  # Project.kind of a sequence project
BUCKET = "recordings"  # the one implicit class that holds a sequence project's samples


def can_sequence(task: str) -> None:
    """A ConfigError (422) unless ``task``'s modality lends sequence runs its reader and front end."""
    from ..tasks import task_modality

    if task_modality(task).sequence is None:
        raise ConfigError(f"task {task!r} cannot make sequence projects",
                          ["Fix: choose a task whose recordings can carry text (signal, sound, speech)."])


def add_bucket(project) -> None:
    """Give a new sequence project the one implicit class its recordings are kept in (the UI
    shows no classes): storage, quotas and sample routes stay those of every project."""
    from .db import Label

    can_sequence(project.task)
    project.classes.append(Label(name=BUCKET))


def check_text(text: str, where: str) -> str:
    """``text`` if it can be a target, else a DataError naming ``where`` and the fix."""
    if len(text) > MAX_TEXT:
        raise DataError(f"{where}: the text is {len(text)} characters long; at most {MAX_TEXT}",
                        ["Fix: cut the recording into shorter clips, each with its own text."])
    if why := text_problem(text):
        raise DataError(f"{where}: {why}", ["Fix: remove control characters (tabs, line breaks) from the text."])
    return text


def _rows(csv_path: Path, shown: str) -> list[tuple[int, str, str]]:
    """(row number, path, text) of a ``path,text`` CSV; every bad row raised at once."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [c.strip().lower() for c in next(reader, [])]
            if "path" not in header or "text" not in header:
                raise DataError(f"{shown}: the header must name the columns `path` and `text`",
                                ["Fix: make the first line `path,text`, then one row per recording."])
            ip, it = header.index("path"), header.index("text")
            rows = []
            for n, row in enumerate(reader, start=2):
                if n - 1 > MAX_ROWS:
                    raise DataError(f"{shown}: more than {MAX_ROWS} rows", ["Fix: upload it in parts."])
                if not any(c.strip() for c in row):
                    continue
                row += [""] * (max(ip, it) + 1 - len(row))
                rows.append((n, row[ip].strip(), row[it]))
    except UnicodeDecodeError:
        raise DataError(f"{shown}: not UTF-8 text", ["Fix: save the CSV as UTF-8."]) from None
    except csv.Error as exc:
        raise DataError(f"{shown}: not a readable CSV ({exc})") from None
    if not rows:
        raise DataError(f"{shown}: no rows below the header", ["Fix: add one row per recording: `path,text`."])
    return rows


def _inside(root: Path, rel: str) -> Path | None:
    """``root/rel`` when ``rel`` is a plain relative path inside ``root`` (never out of it)."""
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    if not parts or rel.startswith(("/", "\\")) or any(p in ("", ".", "..") for p in parts):
        return None
    path = root.joinpath(*parts).resolve()
    return path if path.is_relative_to(root.resolve()) and path.is_file() else None


def check_zip(task: str, name: str, stream: BinaryIO, work: Path, settings, out: Checked) -> dict[str, str]:
    """Stage a zip of recordings + a ``path,text`` CSV, check both; the accepted recordings go to
    ``out`` and the answer maps each one's display name to its text."""
    from ..data import safe_extract_zip
    from .storage import check_staged  # the same check as any uploaded file

    staged = Path(tempfile.mkstemp(dir=work, suffix=".zip")[1])
    try:
        copy_limited(stream, staged, settings.max_zip_bytes)
    except TooLarge as exc:
        raise DataError(f"{name}: file is {exc}") from None
    root = Path(tempfile.mkdtemp(dir=work))
    try:
        members = safe_extract_zip(staged, root, name=name, max_member_bytes=settings.max_file_bytes,
                                   max_total_bytes=unzip_budget(work, settings.max_unzip_bytes,
                                                                settings.min_free_disk_bytes))
    finally:
        staged.unlink(missing_ok=True)
    csvs = [m for m in members if m.suffix.lower() == ".csv" and not m.name.startswith(".")]
    if len(csvs) != 1:
        raise DataError(f"{name}: holds {len(csvs)} CSV files; it needs exactly one (`path,text`)",
                        ["Fix: put one CSV beside the recordings: a header `path,text`, then one row "
                         "per recording (its path inside the zip, its text)."])
    table = csvs[0]
    shown = f"{name}: {table.relative_to(root.resolve()).as_posix()}"
    problems, rows = [], []
    for n, rel, text in _rows(table, shown):
        where = f"{shown} row {n}"
        path = _inside(table.parent, rel)
        if path is None:
            problems.append(f"{where}: file {rel!r} is not in the zip (paths are relative to the CSV)")
            continue
        try:
            check_text(text, where)
        except KonstruktError as exc:
            problems.append(exc.message)
            continue
        rows.append((f"{name}: {rel}", path, text))
    seen: set[Path] = set()
    for n, (shown_name, path, _) in enumerate(rows):
        if path in seen:
            problems.append(f"{shown}: {shown_name.split(': ', 1)[1]!r} is named twice")
        seen.add(path)
    if problems:
        raise DataError(f"{shown}: {len(problems)} row(s) cannot be used; nothing was added",
                        problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else []))
    texts = {}
    for shown_name, path, text in rows:
        staged_copy = Path(tempfile.mkstemp(dir=work, suffix=safe_suffix(path.name))[1])
        shutil.move(path, staged_copy)  # named after the recording: the core reads its type from the suffix
        check_staged(task, shown_name, staged_copy, out)
        texts[display_name(shown_name)] = text
    return texts


def check_recording(task: str, name: str, text: str, stream: BinaryIO, work: Path, settings,
                    out: Checked) -> dict[str, str]:
    """Stage one recording with its typed text (the recorder); the same checks as a CSV row."""
    from .storage import check_staged

    if safe_suffix(name) == ".zip":
        raise DataError(f"{name}: a zip carries its texts in a CSV; send it without a text field")
    check_text(text, name)
    if not text.strip():
        raise DataError(f"{name}: the text is empty", ["Fix: type what the recording says (or what was typed)."])
    staged = Path(tempfile.mkstemp(dir=work, suffix=safe_suffix(name))[1])
    try:
        copy_limited(stream, staged, settings.max_file_bytes)
    except TooLarge as exc:
        raise DataError(f"{name}: file is {exc}") from None
    check_staged(task, name, staged, out)
    return {display_name(name): text}
