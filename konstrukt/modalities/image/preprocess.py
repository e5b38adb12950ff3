"""Images: decode any common file (gray, RGBA, palette, 16-bit, EXIF-rotated) into RGB and resize.

An image whose header says it decodes past the decode limits (pixels, and pixels × bytes per
pixel: :mod:`konstrukt.preprocess.limits`) is refused before a pixel is decoded, and truncated
files fail loudly instead of being silently padded.
"""
from __future__ import annotations

import hashlib
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as F

from ...errors import DataError
from ...models.portable.rgb import to_rgb
from ...preprocess import Preprocessor
from ...preprocess.limits import check_pixels
from ...runtime import torch_threads

_PIL_LIMIT = threading.Lock()  # Pillow's pixel limit is a process global: one open at a time sets it


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow holds per pixel of ``mode`` once decoded (1-byte modes, 16-bit, else 4 bytes)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


def _open_checked(fh: BinaryIO, path: Path) -> Image.Image:
    """Open the image in ``fh`` (the header only) and refuse it by its size before a pixel is decoded.

    Pillow's own decompression-bomb check is switched off while the header is read: ours
    (:func:`~konstrukt.preprocess.limits.check_pixels`) names the limit and the fix, and is the
    same for every caller."""
    with _PIL_LIMIT:
        old_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            img = Image.open(fh)
        finally:
            Image.MAX_IMAGE_PIXELS = old_limit
    check_pixels(str(path), img.size[0], img.size[1], _bytes_per_pixel(img.mode))
    return img


def load_image(path: str | Path) -> Image.Image:
    """Decode an image file into an upright RGB ``PIL.Image`` or raise DataError naming the file.

    Its header is checked against the decode limits first (pixels × bytes per pixel)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Frames of an animated file are checked by Pillow against its own global limit;
            # warn-level hits there are within ours (checked above).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Our own file object: the decoded image keeps no file open, so an RGB photo can be
            # returned as decoded, without a copy (a 48-megapixel one is 192 MB, not twice that).
            with open(path, "rb") as fh:
                img = _open_checked(fh, path)
                img.load()  # decode fully: truncated files raise here
                ImageOps.exif_transpose(img, in_place=True)  # no copy of the pixels
                return to_rgb(img)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(
            f"{path}: image refused as a possible decompression bomb ({exc})",
            ["Fix: resize the image or remove it from the data."],
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"{path}: not a readable image ({exc})",
            ["Fix: re-export the file as JPEG or PNG, or remove it from the data."],
        ) from None


class ImagePreprocessor(Preprocessor):
    """RGB image → (3, S, S) float tensor in [0, 1]; normalisation lives in the backbone."""

    fit_keeps_clean_view = True  # fit chooses the flip probability only

    @property
    def clean_signature(self) -> str:
        return "image-clean:" + hashlib.sha1(str(self.size).encode()).hexdigest()[:12]

    def __init__(self, spec, config):
        self.size = config.image_size or spec.input.size
        self.augment_config, self.seed = config.augment, config.seed
        self._set_augmentation(config.augment)

    def _set_augmentation(self, augment) -> None:
        from .augment import image_augmentation

        self.augmentation = image_augmentation(augment)
        aug = augment.model_dump_json() if self.augmentation else "noaug"
        self.signature = "image:" + hashlib.sha1(f"{self.size}|{aug}".encode()).hexdigest()[:12]

    def fit(self, raws: list[Image.Image], labels, train_idx: list[int], pool_idx: list[int] | None = None) -> dict:
        """With ``augment.hflip`` unset, check on the pool whether a mirrored image keeps its class."""
        from .augment import choose_hflip

        cfg = self.augment_config
        if not cfg.enabled or cfg.hflip is not None or labels is None or pool_idx is None:
            return {}
        p, why = choose_hflip([raws[i] for i in pool_idx], labels[pool_idx], self.seed)
        self.reasons = {"augment.hflip": why}
        self._set_augmentation(cfg.model_copy(update={"hflip": p}))
        return {"augment": {"hflip": p}}

    def load(self, path: Path) -> Image.Image:
        return load_image(path)

    def tensor(self, raw: Image.Image, augment: bool = False, seed: int | None = None) -> torch.Tensor:
        if augment and self.augmentation is not None:
            # One image's resize and augmentations are tiny ops: a second thread gains nothing, and
            # on a busy machine each wake-up of it waits for the scheduler (under cProfile at load ~6
            # the demo's digit rotations took 23 of the scratch CNN's 65 s; one 224 px view 9–12 ms on
            # one thread against 14–16 ms on two at load ~11). Same pixels either way.
            with torch_threads(1):
                return self._tensor(raw, augment, seed)
        return self._tensor(raw, augment, seed)

    def _tensor(self, raw: Image.Image, augment: bool, seed: int | None) -> torch.Tensor:
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

    def state(self) -> dict:
        return {"kind": "image", "size": self.size, "resize": "stretch to size x size, bilinear, antialias",
                "color": "RGB (EXIF-rotated; transparency on white; 16-bit scaled to 8-bit)",
                "scale": "uint8 / 255 -> [0, 1]", "layout": "(3, size, size)"}

    @classmethod
    def from_state(cls, config: dict) -> "ImagePreprocessor":
        self = cls.__new__(cls)
        self.size = int(config["size"])
        self.augmentation = None
        self.signature = "image:" + hashlib.sha1(f"{self.size}|noaug".encode()).hexdigest()[:12]
        return self

