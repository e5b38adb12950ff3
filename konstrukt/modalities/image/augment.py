"""Image augmentations (train split only): flip, rotation, colour jitter.

Each is registered by name with a builder that reads its settings from
:class:`~konstrukt.config.AugmentConfig` and returns a torchvision transform, or None when the
setting turns it off. Adding one touches only this file.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from torchvision.transforms import v2

from ...config import AugmentConfig
from ...registry import Registry

DEFAULT_HFLIP = 0.5
FLIP_SURE = 2.0  # standard errors from the line before the flip check overrides the default
FLIP_CHECK_MAX_IMAGES = 600  # enough to tell; keeps the check under a few seconds on big sets

IMAGE_AUGMENTATIONS: Registry[Callable[[AugmentConfig], Optional[v2.Transform]]] = Registry(
    "image augmentation"
)


@IMAGE_AUGMENTATIONS.register("hflip")
def _hflip(cfg: AugmentConfig):
    p = DEFAULT_HFLIP if cfg.hflip is None else cfg.hflip  # None: until choose_hflip saw the data
    return v2.RandomHorizontalFlip(p) if p > 0 else None


@IMAGE_AUGMENTATIONS.register("rotation")
def _rotation(cfg: AugmentConfig):
    return v2.RandomRotation(cfg.rotation) if cfg.rotation > 0 else None


@IMAGE_AUGMENTATIONS.register("color_jitter")
def _color_jitter(cfg: AugmentConfig):
    if cfg.brightness == cfg.contrast == cfg.saturation == 0:
        return None
    return v2.ColorJitter(brightness=cfg.brightness, contrast=cfg.contrast, saturation=cfg.saturation)


def image_augmentation(cfg: AugmentConfig) -> v2.Compose | None:
    """All enabled image augmentations, in registry order, or None when augmentation is off."""
    if not cfg.enabled:
        return None
    steps = [t for _, build in IMAGE_AUGMENTATIONS.items() if (t := build(cfg)) is not None]
    return v2.Compose(steps) if steps else None


def choose_hflip(images: list, labels: np.ndarray, seed: int = 0) -> tuple[float, str]:
    """The flip probability the data allows, and why: is a mirrored image still of its class?

    A mirrored cat is a cat, a mirrored 3 is not a 3. A simple model (the reference's pixels + HOG
    + colour features, logistic regression) is cross-validated on the training images and scored on
    the held-out images and on their mirror images. When the mirror images lose more than half of
    its accuracy above chance, flipping would teach the model wrong labels, so it is turned off.
    When the simple model cannot tell the classes apart at all, the check says nothing and the
    default stays. On a few dozen images one fold's luck can move that drop across the line (a CLI
    and a web run of near-identical data decided differently), so the decision is taken only when
    the drop is FLIP_SURE standard errors from the line (paired over the images); else the default
    stays and the reason says the check was unsure.
    """
    from PIL import ImageOps
    from sklearn.model_selection import StratifiedKFold

    from .reference import image_features
    from ...reference import make_model

    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = np.arange(len(labels))
    if len(keep) > FLIP_CHECK_MAX_IMAGES:
        keep = np.sort(rng.choice(keep, FLIP_CHECK_MAX_IMAGES, replace=False))
    y = labels[keep]
    classes, counts = np.unique(y, return_counts=True)
    k = min(3, int(counts.min())) if len(classes) > 1 else 0
    if k < 2:
        return DEFAULT_HFLIP, "too few images per class to check whether mirroring keeps the class"
    X = np.stack([image_features(images[i]) for i in keep])
    Xm = np.stack([image_features(ImageOps.mirror(images[i])) for i in keep])
    right = np.zeros(len(y)), np.zeros(len(y))  # per image: held-out plain / mirrored correct
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(X, y):
        model = make_model().fit(X[train], y[train])
        right[0][test] = model.predict(X[test]) == y[test]
        right[1][test] = model.predict(Xm[test]) == y[test]
    plain, mirrored, chance = right[0].mean(), right[1].mean(), 1 / len(classes)
    figures = (f"a simple model recognises {100 * plain:.0f} % of held-out training images and "
               f"{100 * mirrored:.0f} % of their mirror images; chance is {100 * chance:.0f} %")
    if plain - chance < 0.15:
        return DEFAULT_HFLIP, f"mirrored copies stay on: too little signal to judge them ({figures})"
    # how far the drop is from the line, in standard errors of the paired per-image difference
    line = 0.5 * (plain - chance)
    se = max(float(np.std(right[0] - right[1], ddof=1)) / np.sqrt(len(y)), 1e-9)
    sure = (plain - mirrored - line) / se
    if sure >= FLIP_SURE:
        return 0.0, f"mirrored copies are off: mirroring changes what a class looks like ({figures})"
    if sure <= -FLIP_SURE:
        return DEFAULT_HFLIP, f"mirrored copies stay on: a mirrored image keeps its class ({figures})"
    return DEFAULT_HFLIP, (f"mirrored copies stay on (the default): the check is unsure on {len(y)} "
                           f"images whether mirroring changes a class ({figures}); more images make it surer")
