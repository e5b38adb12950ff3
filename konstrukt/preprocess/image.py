"""Images: decode any common file (gray, RGBA, palette, 16-bit, EXIF-rotated) into RGB and resize.

Decompression bombs are refused (Pillow's pixel limit, with its warning turned into an error) and
truncated files fail loudly instead of being silently padded.
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from ..errors import DataError
from . import Preprocessor

MAX_IMAGE_PIXELS = 89_478_485  # Pillow's default: ~ a 9459 x 9459 image


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image file into an upright RGB ``PIL.Image`` or raise DataError naming the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                with Image.open(path) as img:
                    img.load()  # decode fully: truncated files raise here
                    img = ImageOps.exif_transpose(img)
                    return to_rgb(img)
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(
            f"{path}: image refused as a possible decompression bomb ({exc})",
            ["Fix: resize the image below ~89 megapixels or remove it from the data."],
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"{path}: not a readable image ({exc})",
            ["Fix: re-export the file as JPEG or PNG, or remove it from the data."],
        ) from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255.0 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    return img.convert("RGB")


class ImagePreprocessor(Preprocessor):
    """RGB image → (3, S, S) float tensor in [0, 1]; normalisation lives in the backbone."""

    def __init__(self, spec, config):
        self.size = config.image_size or spec.input.size
        self.augment_config, self.seed = config.augment, config.seed
        self._set_augmentation(config.augment)

    def _set_augmentation(self, augment) -> None:
        from ..augment.image import image_augmentation

        self.augmentation = image_augmentation(augment)
        aug = augment.model_dump_json() if self.augmentation else "noaug"
        self.signature = "image:" + hashlib.sha1(f"{self.size}|{aug}".encode()).hexdigest()[:12]

    def fit(self, raws: list[Image.Image], labels=None) -> dict:
        """With ``augment.hflip`` unset, check on the data whether a mirrored image keeps its class."""
        from ..augment.image import choose_hflip

        cfg = self.augment_config
        if not cfg.enabled or cfg.hflip is not None or labels is None:
            return {}
        p, why = choose_hflip(raws, labels, self.seed)
        self.reasons = {"augment.hflip": why}
        self._set_augmentation(cfg.model_copy(update={"hflip": p}))
        return {"augment": {"hflip": p}}

    def load(self, path: Path) -> Image.Image:
        return load_image(path)

    def tensor(self, raw: Image.Image, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        x = F.to_image(raw)  # (3, H, W) uint8
        x = F.resize(x, [self.size, self.size], antialias=True)
        if augment and self.augmentation is not None:
            if seed is None:
                x = self.augmentation(x)
            else:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    x = self.augmentation(x)
        return F.to_dtype(x, torch.float32, scale=True)  # (3, S, S) in [0, 1]

    def to_config(self) -> dict:
        return {"kind": "image", "size": self.size, "resize": "stretch to size x size, bilinear, antialias",
                "color": "RGB (EXIF-rotated; transparency on white; 16-bit scaled to 8-bit)",
                "scale": "uint8 / 255 -> [0, 1]", "layout": "(3, size, size)"}

    @classmethod
    def from_config(cls, config: dict) -> "ImagePreprocessor":
        self = cls.__new__(cls)
        self.size = int(config["size"])
        self.augmentation = None
        self.signature = "image:" + hashlib.sha1(f"{self.size}|noaug".encode()).hexdigest()[:12]
        return self

