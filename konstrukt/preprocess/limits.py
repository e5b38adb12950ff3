"""Decoded-size limits: what one file may cost in memory once decoded, checked *before* decoding.

A small file can decode to gigabytes: a 171 kB PNG of 9400 × 9400 16-bit pixels, a 778 kB ``.npz``
of zeros whose header says 800 MB, a 1 MB FLAC of two hours of silence, a CSV of short cells. So
every reader asks the file's header for the decoded size first (pixels × bytes per pixel; an NPY
header's shape × itemsize; frames / rate; rows × columns) and refuses it here, naming the file, the
limit and the fix. The readers live in the core, so the CLI, the library, service uploads and
*Try it* all share one rule.

The defaults keep one file well under ~500 MB of server memory and above what real data needs:

====================  =============  ==========================================================
setting               default        what it bounds
====================  =============  ==========================================================
max_image_pixels      50 000 000     width × height (a 48-megapixel phone photo passes)
max_decoded_bytes     256 MiB        any file's decoded array (image, signal, whole audio file)
max_audio_seconds     1 200 (20 min)  audio decoded whole (``audio.long_files: windows``);
                                      ``crop`` never reads past ``audio.duration``, so any length
                                      passes
max_signal_values     20 000 000     channels × samples of one recording (CSV / NPY / NPZ)
====================  =============  ==========================================================

Change them per process with the environment (``KONSTRUKT_MAX_IMAGE_PIXELS``,
``KONSTRUKT_MAX_DECODED_BYTES``, ``KONSTRUKT_MAX_AUDIO_SECONDS``, ``KONSTRUKT_MAX_SIGNAL_VALUES``;
read on first use, so ``konstrukt serve`` and its worker share them) or, in a library session, with
:func:`set_decode_limits`.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, DataError

MiB = 1024**2


class DecodeLimits(BaseModel):
    """The most one file may decode to (see the module docstring for what each bounds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_image_pixels: int = Field(50_000_000, gt=0)
    max_decoded_bytes: int = Field(256 * MiB, gt=0)
    max_audio_seconds: float = Field(1200.0, gt=0)
    max_signal_values: int = Field(20_000_000, gt=0)


_ENV = {name: f"KONSTRUKT_{name.upper()}" for name in DecodeLimits.model_fields}
_override: DecodeLimits | None = None


@lru_cache(maxsize=1)
def _from_env() -> DecodeLimits:
    values = {name: os.environ[var] for name, var in _ENV.items() if os.environ.get(var)}
    try:
        return DecodeLimits(**values)
    except ValidationError as exc:
        raise ConfigError("a decode limit in the environment is not valid", [
            f"{_ENV[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors()] + [
            "Fix: set it to a positive number (bytes, pixels, seconds or values), or unset it."]) from None


def decode_limits() -> DecodeLimits:
    """The limits in force: :func:`set_decode_limits`'s, else the environment's, else the defaults."""
    return _override or _from_env()


def set_decode_limits(limits: DecodeLimits | None) -> None:
    """Use ``limits`` in this process (None: back to the environment's / the defaults)."""
    global _override
    _override = limits


@contextmanager
def using_decode_limits(**changes) -> Iterator[DecodeLimits]:
    """The current limits with ``changes`` applied, for the duration of a ``with`` block."""
    old = _override
    set_decode_limits(decode_limits().model_copy(update=changes))
    try:
        yield decode_limits()
    finally:
        set_decode_limits(old)


def _count(n: float) -> str:
    return f"{n:,.0f}"


def _size(n: float) -> str:
    return f"{n / MiB:,.0f} MiB" if n >= MiB else f"{n:,.0f} bytes"


def too_large(label: str, what: str, limit: str, setting: str, fix: str) -> DataError:
    """The refusal every reader raises: the file, what it would decode to, the limit, the fix."""
    # The fix is part of the message: Try it and batch prediction report only the message.
    return DataError(f"{label}: {what}, over the limit of {limit} (`{setting}`), so it is not decoded. "
                     f"Fix: {fix}")


def check_pixels(label: str, width: int, height: int, bytes_per_pixel: int) -> None:
    """Refuse an image whose header says it decodes past the pixel or byte limit."""
    lim = decode_limits()
    pixels = width * height
    if pixels > lim.max_image_pixels:
        raise too_large(label, f"{width} × {height} pixels ({pixels / 1e6:,.1f} megapixels: "
                               "a possible decompression bomb)",
                        f"{lim.max_image_pixels / 1e6:g} megapixels", "max_image_pixels",
                        f"resize the image to at most {lim.max_image_pixels / 1e6:g} megapixels, "
                        "or remove it from the data.")
    if pixels * bytes_per_pixel > lim.max_decoded_bytes:
        raise too_large(label, f"{width} × {height} pixels decode to {_size(pixels * bytes_per_pixel)}",
                        _size(lim.max_decoded_bytes), "max_decoded_bytes",
                        "resize the image or save it with 8 bits per channel.")


def check_values(label: str, values: int, itemsize: int, what: str, fix: str) -> None:
    """Refuse a recording (array or table) that would hold too many values or bytes."""
    lim = decode_limits()
    if values > lim.max_signal_values:
        raise too_large(label, f"{what} ({_count(values)} values)", f"{_count(lim.max_signal_values)} values",
                        "max_signal_values", fix)
    if values * itemsize > lim.max_decoded_bytes:
        raise too_large(label, f"{what} ({_size(values * itemsize)} decoded)", _size(lim.max_decoded_bytes),
                        "max_decoded_bytes", fix)


def check_seconds(label: str, seconds: float, rate: int, fix: str) -> None:
    """Refuse audio that, decoded whole at ``rate`` Hz (mono float32), is too long or too large."""
    lim = decode_limits()
    if seconds > lim.max_audio_seconds:
        raise too_large(label, f"{seconds / 60:,.1f} minutes of audio",
                        f"{lim.max_audio_seconds / 60:g} minutes", "max_audio_seconds", fix)
    if seconds * rate * 4 > lim.max_decoded_bytes:
        raise too_large(label, f"{seconds / 60:,.1f} minutes of audio at {rate} Hz "
                               f"({_size(seconds * rate * 4)} decoded)", _size(lim.max_decoded_bytes),
                        "max_decoded_bytes", fix)
