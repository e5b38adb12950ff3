"""Data health of images: what one image measures, and which images are copies of each other.

Near duplicates in two stages, like the audio and signal checks:

1. **candidates**: a 64-bit perceptual hash (pHash of a 32×32 grey thumbnail) within
   :data:`PHASH_MAX_BITS` bits — cheap and vectorised, but it keeps one bit per low-frequency
   coefficient, so on tiny content (8×8 digit scans blown up to 64×64) two different writers'
   sevens land within a few bits;
2. **confirmation**: the grey levels themselves, on an 8×8 area-averaged thumbnail with brightness
   and contrast taken out (each thumbnail standardised). A copy — resized, re-encoded, a little
   brighter — differs from its original by at most ~10 % of the grey range in any cell; two real
   scans differ by more in at least two cells (measured on all 1,797 scikit-learn digits: the
   closest candidate pair 15 %, copies ≤ 7 %, JPEG-recompressed photos ≤ 10.5 %).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...data.measure import HealthHooks, Measure
from ...data.similarity import hamming_pairs

PHASH_MAX_BITS = 4  # of 64: resaved, resized or re-lit copies land at 0–4, distinct photos at ≥ 6
THUMB = 8  # side of the confirmation thumbnail (area averages: resampling barely moves them)
MATCH_TOLERANCE = 0.125  # of the grey range: a cell of a copy stays within this
MATCH_ODD_CELLS = 1  # cells allowed beyond the tolerance (one edge cell of a cropped or shifted copy)
_COLOUR = {"1": "black-and-white", "L": "greyscale", "LA": "greyscale", "P": "palette",
           "RGB": "colour", "RGBA": "colour with transparency", "CMYK": "CMYK"}


def measure_image(path: Path) -> Measure:
    """Size and colour mode as stored, the perceptual hash, a grey thumbnail, and blankness."""
    import imagehash
    from PIL import Image

    from .preprocess import load_image

    img = load_image(path)  # checks the size first, decodes fully, refuses truncated files; upright RGB
    with Image.open(path) as probe:  # the header: size and mode as stored
        width, height, mode = probe.size[0], probe.size[1], probe.mode
    grey = img.convert("L")
    thumb = grey.resize((32, 32), Image.LANCZOS)  # what pHash looks at
    bits = imagehash.phash(thumb).hash.flatten()  # 64 booleans
    key = int(np.packbits(bits).view(">u8")[0])
    flat = "blank" if float(np.asarray(thumb, dtype=np.float32).std()) < 2.0 else None
    return Measure({"pixels": width * height, "width": width, "height": height,
                    "colour": _COLOUR.get(mode, mode)},
                   key=key, flat=flat, confirm=grey_cells(grey))


def grey_cells(grey) -> np.ndarray:
    """(THUMB², ) the mean grey level of each cell of a THUMB × THUMB grid, standardised (mean 0,
    std 1), so a brighter or higher-contrast copy gives the same cells."""
    from PIL import Image

    cells = np.asarray(grey.convert("F").resize((THUMB, THUMB), Image.BOX), np.float32).ravel()
    return ((cells - cells.mean()) / max(float(cells.std()), 1e-6)).astype(np.float32)


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Two images' :func:`grey_cells` are one picture: at most :data:`MATCH_ODD_CELLS` cells differ by
    more than :data:`MATCH_TOLERANCE` of the grey range."""
    span = 0.5 * (float(np.ptp(a)) + float(np.ptp(b)))
    if span <= 0:
        return False
    return int(np.count_nonzero(np.abs(a - b) > MATCH_TOLERANCE * span)) <= MATCH_ODD_CELLS


def image_pairs(measures: list[Measure], idx: list[int], samples: list, config=None) -> np.ndarray:
    """Hash candidates (within :data:`PHASH_MAX_BITS`) that the grey cells confirm as one picture."""
    hashes = np.array([measures[i].key for i in idx], dtype=np.uint64)
    pairs = hamming_pairs(hashes, PHASH_MAX_BITS)
    keep = [(idx[i], idx[j]) for i, j in pairs
            if same_picture(measures[idx[i]].confirm, measures[idx[j]].confirm)]
    return np.array(keep, dtype=int).reshape(-1, 2)


def _show_image(key: str, value: Any, meta: dict) -> str:
    if key == "pixels":
        return f"{meta['width']}×{meta['height']} px" if meta else f"{value / 1e6:.2g} megapixels"
    return str(value)


HEALTH = HealthHooks(measure_image, image_pairs, {"pixels": "image size"}, {"colour": "colour mode"},
                     _show_image, noun="image",
                     flats={"blank": "{are} blank (a single colour): nothing to learn from"})
