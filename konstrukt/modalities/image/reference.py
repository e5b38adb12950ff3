"""The simple baseline's features for images: 16×16 grey pixels + a histogram of oriented gradients
(HOG, 8×8 cells of a 64×64 grey image, 9 orientations) + an 8-bin histogram per colour channel,
fed to :func:`konstrukt.reference.make_model`. The flip check (:mod:`konstrukt.augment.image`) uses
the same features."""
from __future__ import annotations

import numpy as np

from ...reference import ReferenceSpec


def hog(grey: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """Histogram of oriented gradients (unsigned, magnitude-weighted), L2-normalised per cell."""
    gy, gx = np.gradient(grey.astype(np.float32))
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)  # unsigned orientation in [0, pi)
    b = np.minimum((ang / np.pi * bins).astype(int), bins - 1)
    h, w = grey.shape[0] // cell, grey.shape[1] // cell
    out = np.zeros((h, w, bins), np.float32)
    cy, cx = np.divmod(np.arange(h * cell * w * cell), w * cell)
    np.add.at(out, (cy // cell, cx // cell, b[:h * cell, :w * cell].ravel()),
              mag[:h * cell, :w * cell].ravel())
    out /= np.linalg.norm(out, axis=2, keepdims=True) + 1e-6
    return out.ravel()


def image_features(img) -> np.ndarray:
    """16×16 grey pixels, HOG of the 64×64 grey image, and an 8-bin histogram per RGB channel."""
    rgb = img.convert("RGB")
    grey = rgb.convert("L")
    pixels = np.asarray(grey.resize((16, 16)), np.float32).ravel() / 255.0
    grad = hog(np.asarray(grey.resize((64, 64)), np.float32) / 255.0)
    arr = np.asarray(rgb, np.uint8).reshape(-1, 3)
    colour = np.concatenate([np.histogram(arr[:, c], bins=8, range=(0, 256))[0] for c in range(3)])
    return np.concatenate([pixels, grad, colour / max(len(arr), 1)]).astype(np.float32)


REFERENCE = ReferenceSpec("hog_logreg", "pixels + HOG + colour histogram + logistic regression",
                          lambda img, pre: image_features(img))
