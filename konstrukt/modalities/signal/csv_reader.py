"""Reading a sensor recording from a CSV file: columns are channels, one row per time step.

A header row or not; an optional first column holding the time in seconds (detected by its name —
``time``, ``t``, ``timestamp``… — or, without a header, by a strictly increasing, evenly spaced
first column; ``signal.time_column`` overrides) gives the sampling rate. Ragged rows, empty or
non-numeric cells and NaN/inf values are refused with the file and row named. The file is read a
bounded line at a time, counted first, then parsed into one preallocated array.
"""
from __future__ import annotations

import csv
import math
from itertools import islice
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import DataError
from ...preprocess.limits import check_values
from .headers import bounded_lines

TIME_NAMES = frozenset({"time", "t", "timestamp", "times", "seconds", "sec", "secs", "s", "time_s",
                        "time (s)", "time[s]", "t_s", "elapsed"})
MAX_ROW_PROBLEMS = 5  # per file: enough to show the pattern without a wall of text
_BLOCK_CELLS = 1 << 16  # CSV cells parsed at a time (a few MB of strings at most)


def bad_file(path: Path, why: str, fix: str) -> DataError:
    """The error for an unusable signal file: its name, what is wrong, the fix."""
    return DataError(f"{path.name}: {why}", [f"Fix: {fix}"])


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _time_column(header: list[str] | None, rows: np.ndarray, mode: str) -> tuple[bool, float]:
    """(first column is time?, its scale to seconds) by name, or by an even increasing ramp."""
    if mode == "none" or rows.shape[1] < 2:
        return False, 1.0
    if mode == "first":
        return True, 1.0
    if header is not None:
        name = header[0].strip().lower()
        if name in ("ms", "time_ms", "time (ms)", "time[ms]", "timestamp_ms"):
            return True, 1e-3
        return name in TIME_NAMES, 1.0
    steps = np.diff(rows[:, 0])
    even = steps.size >= 2 and steps.min() > 0 and (steps.max() - steps.min()) <= 1e-3 * steps.mean()
    return bool(even), 1.0


def _rate_from_time(path: Path, t: np.ndarray, first_row: int) -> float:
    steps = np.diff(t)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        raise bad_file(path, f"row {first_row + int(bad[0]) + 1}: the time column does not increase "
                         f"({t[bad[0]]:g} → {t[bad[0] + 1]:g})",
                   "sort the rows by time, or pass --time-column none if the first column is a channel")
    if steps.size == 0:
        raise bad_file(path, "a single time step cannot give a sampling rate",
                   "record more samples, or pass --time-column none and --sample-rate HZ")
    return float(f"{1.0 / np.median(steps):.6g}")  # 199.99999… from rounded times is 200 Hz


def _csv_rows(path: Path) -> Iterator[list[str]]:
    """The non-empty rows of a CSV file, read a bounded line at a time (never the whole file)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        try:
            for row in csv.reader(bounded_lines(f, path.name)):
                if row and (row[0].strip() or "".join(row).strip()):  # skip blank lines, fast
                    yield row
        except (csv.Error, UnicodeDecodeError) as exc:
            raise bad_file(path, f"not a readable CSV file ({str(exc)[:120]})",
                       "export the recording as a UTF-8 CSV, one row per time step") from None


def _csv_shape(path: Path) -> tuple[list[str] | None, int, int]:
    """(header or None, data rows, columns), counted in a first pass that keeps no row."""
    rows = _csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise bad_file(path, "is empty (no rows)", "remove the file or export the recording again")
    header = None if all(_is_number(c) for c in first) else first
    count = sum(1 for _ in rows) + (header is None)
    if not count:
        raise bad_file(path, "has a header row but no data rows", "export the recording again")
    return header, count, len(first)


def _row_problem(row: list[str], width: int, names: list[str], where: str) -> str | None:
    """What is wrong with a row numpy could not take: its length, or its first bad cell."""
    if len(row) != width:
        return f"{where}: {len(row)} cells, expected {width} (ragged row)"
    for j, cell in enumerate(row):
        col = names[j].strip() or f"column {j + 1}"
        try:
            value = float(cell)
        except ValueError:
            return f"{where}, {col}: {cell.strip()[:20]!r} is not a number"
        if not math.isfinite(value):
            return f"{where}, {col}: {cell.strip()} (NaN or infinite values are not allowed)"
    return None


def read_csv_values(path: Path, time_mode: str = "auto") -> tuple[np.ndarray, float | None, str]:
    """CSV → ((C, T) float32, rate from its time column or None, what was assumed); every ragged row, non-numeric cell and NaN/inf is reported by row.

    Rows × columns are counted first and checked against the decode limits; the values then go
    straight into one preallocated array (a list of every row's strings costs ~20x the file)."""
    header, count, width = _csv_shape(path)
    check_values(path.name, count * width, 8, f"{count:,} rows × {width:,} columns",
                 "save a shorter recording per file (split it, or lower the sampling rate).")
    first_row = 2 if header is not None else 1
    rows = _csv_rows(path)
    if header is not None:
        next(rows)
    values = np.empty((count, width), dtype=np.float64)
    names = header or [f"column {j + 1}" for j in range(width)]
    problems, step = [], max(1, _BLOCK_CELLS // width)
    block_rows = iter(lambda: list(islice(rows, step)), [])
    for start, block in zip(range(0, count, step), block_rows):  # a file grown since the count cannot overrun
        block = block[:count - start]
        try:  # numpy parses the strings as float() does, a block of rows at a time
            values[start:start + len(block)] = np.array(block, dtype=np.float64)
            if np.isfinite(values[start:start + len(block)]).all():
                continue
        except ValueError:  # ragged or not a number: find which row, and what
            pass
        for i, row in enumerate(block, start):
            if problem := _row_problem(row, width, names, f"row {first_row + i}"):
                problems.append(problem)
            if len(problems) >= MAX_ROW_PROBLEMS:
                problems.append(f"… stopped after {MAX_ROW_PROBLEMS} bad rows")
                break
        if len(problems) >= MAX_ROW_PROBLEMS:
            break
    rows.close()
    if problems:  # the rows go into the message: a run lists every unreadable file by its message
        raise DataError(f"{path.name}: " + "; ".join(problems), [
            "Fix: every row needs one number per column (no empty cells, NaN or inf)."])
    is_time, scale = _time_column(header, values, time_mode)
    rate, note = None, ""
    if is_time:
        rate = _rate_from_time(path, values[:, 0] * scale, first_row)
        values = values[:, 1:]
        note = f"first column is the time ({rate:g} Hz)"
    return np.ascontiguousarray(values.T, dtype=np.float32), rate, note
