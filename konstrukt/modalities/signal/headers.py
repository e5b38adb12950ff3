"""A signal file's decoded size, read from its headers before its data (NPY, NPZ, CSV lines).

numpy allocates whatever shape an ``.npy`` header declares, and an ``.npz`` member is a deflated
``.npy`` (800 MB of zeros fit in 778 kB), so :func:`check_array_file` reads every header — and,
for an NPZ, the zip directory's sizes and ratios — and refuses the file against the decode limits
(:mod:`konstrukt.preprocess.limits`) before ``numpy.load`` sees it. :func:`bounded_lines` feeds
the CSV reader lines of bounded length, so one endless row cannot become millions of strings.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

import numpy as np

from ...data.archive import MAX_RATIO, RATIO_FLOOR
from ...errors import DataError
from ...preprocess.limits import check_values

MAX_CSV_LINE = 1 << 20  # characters in one CSV line (~500 000 cells): far past any sensor's channels
_ARRAY_FIX = "save a shorter recording per file (split it, or lower the sampling rate)."


def _npy_header(fp: BinaryIO) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an ``.npy`` header; ValueError when it is not one numpy writes."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fp)
    else:  # 3.0 is only written for structured dtypes, which are no signal
        raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    return tuple(int(n) for n in shape), dtype


def _check_header(label: str, fp: BinaryIO, total: int, where: str = "") -> None:
    """Refuse an array (a stream of ``total`` bytes) whose header declares more values or bytes
    than the limits allow, or more data than the stream holds."""
    shape, dtype = _npy_header(fp)
    values = math.prod(shape)
    dims = " × ".join(str(n) for n in shape) or "scalar"
    check_values(label, values, dtype.itemsize, f"{where}a {dims} array of {dtype}", _ARRAY_FIX)
    declared, stored = values * dtype.itemsize, total - fp.tell()
    if declared > stored:
        raise DataError(f"{label}: {where}truncated: its header declares {declared:,} bytes of data but "
                        f"{max(stored, 0):,} are stored", ["Fix: save the array again with numpy.save."])


def _check_npz(label: str, path: Path) -> None:
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            where = f"member {info.filename!r}: "
            with zf.open(info) as fp:
                _check_header(label, fp, info.file_size, where)
            if (info.file_size > RATIO_FLOOR and info.compress_size
                    and info.file_size / info.compress_size > MAX_RATIO):
                raise DataError(f"{label}: {where}expands {info.file_size / info.compress_size:,.0f}x, over "
                                f"the limit of {MAX_RATIO}x (a possible zip bomb)",
                                ["Fix: save real recordings with numpy.savez (or savez_compressed)."])


def check_array_file(path: Path) -> None:
    """Refuse an ``.npy``/``.npz`` by its headers before numpy allocates anything for it.

    Raises DataError past a limit; ValueError/zipfile errors when the file is no array at all
    (the reader words those)."""
    with open(path, "rb") as fp:
        if fp.read(4) in (b"PK\x03\x04", b"PK\x05\x06"):  # a zip, as numpy.load tells an .npz
            fp.close()
            _check_npz(path.name, path)
            return
        fp.seek(0)
        _check_header(path.name, fp, path.stat().st_size)


def bounded_lines(f: TextIO, label: str) -> Iterator[str]:
    """The lines of a text file, refusing one longer than :data:`MAX_CSV_LINE` characters."""
    number = 0
    while line := f.readline(MAX_CSV_LINE + 1):
        number += 1
        if len(line) > MAX_CSV_LINE:
            raise DataError(f"{label}: line {number} is longer than {MAX_CSV_LINE:,} characters; "
                            "a recording has one row per time step and one column per channel",
                            ["Fix: write one row per time step (transpose the table if it is channels × "
                             "time)."])
        yield line
