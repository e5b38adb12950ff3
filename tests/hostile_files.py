"""Small files that decode to a lot (issue 20, item 3), built without ever holding the decoded size:
a 16-bit PNG of huge dimensions, an NPY/NPZ whose header declares a huge shape (of real zeros, or
of nothing), a FLAC of long silence, CSV tables. Used by the tests and by bench/serve_abuse.py."""
from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np


def png16(width: int, height: int) -> bytes:
    """A valid 16-bit greyscale PNG of zeros: ``width × height`` pixels in a few hundred kB."""
    return png(width, height, depth=16, colour=0)


def png(width: int, height: int, depth: int = 8, colour: int = 2) -> bytes:
    """A valid PNG of zeros (``colour`` 0: grey, 2: RGB), streamed: never the pixels in memory."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3}[colour]
    row = bytes(1 + width * channels * depth // 8)  # filter byte 0, then zeros
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def npz_of_zeros(shape: tuple[int, ...], name: str = "data.npy") -> bytes:
    """An .npz (deflated) holding a float64 array of zeros of ``shape``, streamed: ~1000x smaller."""
    total = int(np.prod(shape)) * 8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name, "w", force_zip64=True) as out:
            out.write(npy_header(shape))
            block = bytes(1 << 22)
            for start in range(0, total, len(block)):
                out.write(block[: min(len(block), total - start)])
    return buf.getvalue()


def flac_silence(seconds: float, rate: int = 1000) -> bytes:
    """A mono 16-bit FLAC of ``seconds`` of silence (a few kB per minute at a low rate)."""
    import soundfile as sf

    buf = io.BytesIO()
    frames = int(seconds * rate)
    block = np.zeros(1 << 16, dtype=np.int16)
    with sf.SoundFile(buf, "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, frames, block.size):
            f.write(block[: min(block.size, frames - start)])
    return buf.getvalue()


def csv_table(rows: int, cols: int, cell: bytes = b"0") -> bytes:
    """A headerless CSV of ``rows × cols`` identical cells."""
    return (b",".join([cell] * cols) + b"\n") * rows
