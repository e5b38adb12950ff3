"""What a set of sensor files says about itself when each file alone does not.

* **Which axis is time** in NPY/NPZ arrays. One file's shape can only say "the longer axis is
  time", which fails on a square file (12 channels × 12 samples) and misreads a short one (12 × 8).
  A set of files says more: the axis that is the same length in every file holds the channels
  (12 × T files with T from 8 to 400 are channels × time), and square files follow the set.
* **The window without a rate.** CSV files without a time column (BasicMotions-style exports:
  6 columns × 100 rows) and no ``--sample-rate`` have no seconds at all, so the run works in samples:
  the window is the files' typical length, said in the report; ``--sample-rate`` turns it into
  seconds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import DataError
from ...words import count

LAYOUTS = ("channels_first", "time_first")


def orient(path, arr: np.ndarray, layout: str) -> tuple[np.ndarray, str, bool]:
    """(data as (C, T), what was assumed, transposed?) for a 1-D or 2-D array of one file.

    ``layout`` ``auto``: the longer axis is time; a square array is kept as channels × time for
    now, marked, and settled by :func:`settle_layout` once the whole set has been read."""
    if arr.ndim == 1:
        return arr[None, :], "one channel", False
    if arr.ndim != 2:
        raise DataError(f"{path.name}: holds a {arr.ndim}-D array {arr.shape}; a signal is 1-D or 2-D "
                        "(channels × time)", ["Fix: save one recording per file as a 2-D array"])
    if layout in LAYOUTS:
        return (arr, "", False) if layout == "channels_first" else (arr.T, "", True)
    if arr.shape[0] == arr.shape[1]:
        return arr, f"square {arr.shape}", False
    if arr.shape[0] < arr.shape[1]:
        return arr, f"read as channels × time {arr.shape} (the longer axis is time)", False
    return arr.T, f"read as time × channels {arr.shape} (the longer axis is time)", True


def set_layout(shapes: Sequence[tuple[int, int]]) -> str | None:
    """The layout a set of 2-D array shapes implies, or None when the shapes cannot tell.

    The axis of one length in every file is the channels' (when the other axis varies); files all
    of one shape fall back to "the longer axis is time"."""
    if not shapes:
        return None
    first, second = {s[0] for s in shapes}, {s[1] for s in shapes}
    if len(first) == 1 and len(second) > 1:
        return "channels_first"
    if len(second) == 1 and len(first) > 1:
        return "time_first"
    if len(first) == 1 and len(second) == 1 and shapes[0][0] != shapes[0][1]:
        return "channels_first" if shapes[0][0] < shapes[0][1] else "time_first"
    return None


def settle_layout(raws: list, layout: str) -> tuple[str | None, list[str]]:
    """Orient every array recording of ``raws`` by the set's layout (in place).

    Returns (the layout the run reads arrays with from now on — None: each file by its longer
    axis —, a note for the user). A square file in a set that cannot tell raises DataError naming it."""
    if layout in LAYOUTS:
        return layout, []
    arrays = list({r.path: r for r in raws if r.shape is not None}.values())  # windows of a file: once
    decided = set_layout([r.shape for r in arrays])
    if decided is None:
        squares = sorted(r.path.name for r in arrays if r.shape[0] == r.shape[1])
        if squares:
            raise DataError(f"{count(len(squares), 'file')} {'is' if len(squares) == 1 else 'are'} square "
                            "and the other files do not tell which axis is time", squares[:10] + [
                                "Fix: set `signal.layout` (--layout) to channels_first or time_first"])
        return None, []
    flip = decided == "time_first"
    for r in raws:
        if r.shape is not None:
            if r.transposed != flip:
                r.data, r.transposed = np.ascontiguousarray(r.data.T), flip
                r._at.clear()
            r.note = ""  # the set's note below replaces each file's guess
    axis, n = (0, arrays[0].shape[0]) if not flip else (1, arrays[0].shape[1])
    squares = sum(r.shape[0] == r.shape[1] for r in arrays)
    note = (f"arrays read as {'channels × time' if not flip else 'time × channels'}: axis {axis} has "
            f"{n} entries in every file" + (f" (the {count(squares, 'square file')} follow the others)"
                                            if squares else "") + "; override with --layout")
    return decided, [note] if len(arrays) > 1 else []


def typical_length(raws: list) -> int:
    """The median length in samples of the recordings (each file once)."""
    lengths = {r.path: r.data.shape[1] for r in raws}
    return max(1, int(np.median(list(lengths.values()))))


def samples_note(length: int) -> str:
    """What a run without a sampling rate does instead, in words."""
    return (f"the sampling rate is unknown (no time column, no --sample-rate): working in samples, "
            f"a window is {length} samples, the files' typical length; pass --sample-rate HZ to work in "
            "seconds")
