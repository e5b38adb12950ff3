"""Any Pillow image to 8-bit RGB, as konstrukt decodes it for training and inference.

Self-contained (numpy and Pillow only): konstrukt's image preprocessor uses it, and exported image
bundles carry this file verbatim, so a bundle reads a file exactly as training did.
"""
import numpy as np
from PIL import Image

BLOCK_PIXELS = 1 << 20  # 16-bit → 8-bit scaling works on this many pixels at a time (8 MiB of float64)


def scaled_to_uint8(arr):
    """A 16-bit/32-bit/float image stretched to 0..255, a block of rows at a time.

    The maths is the whole-image float64 formula, so the result is the same to the bit; only one
    block (≤ ``BLOCK_PIXELS``) is ever widened, never the whole image (a 9400 × 9400 16-bit PNG
    would otherwise take 0.7 GB per float64 copy)."""
    lo, hi = float(arr.min()), float(arr.max())
    out = np.zeros(arr.shape, dtype=np.uint8)
    if hi <= lo:
        return out
    rows = max(1, BLOCK_PIXELS // max(1, arr.shape[1]))
    for r in range(0, arr.shape[0], rows):
        block = arr[r:r + rows].astype(np.float64)
        out[r:r + rows] = ((block - lo) / (hi - lo) * 255.0).astype(np.uint8)
    return out


def to_rgb(img):
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white.

    An RGB image is returned as it is (not copied)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = Image.fromarray(scaled_to_uint8(np.asarray(img)), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img if img.mode == "RGB" else img.convert("RGB")
