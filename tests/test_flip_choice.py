"""Whether images may be mirrored is decided from the data: digits no, symmetric photos yes."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image, ImageDraw

import konstrukt
from konstrukt.modalities.image.augment import DEFAULT_HFLIP, choose_hflip
from konstrukt.demo import write_digits


def _arrows(n: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Left- and right-pointing arrows on noisy backgrounds: a mirror image swaps the class."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        img = Image.fromarray(rng.integers(0, 60, (48, 48, 3), dtype=np.uint8))
        draw = ImageDraw.Draw(img)
        y = int(rng.integers(14, 34))
        draw.polygon([(8, y), (30, y - 10), (30, y + 10)], fill=(255, 255, 255))
        draw.rectangle([28, y - 3, 42, y + 3], fill=(255, 255, 255))
        if i % 2:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        images.append(img)
        labels.append(i % 2)
    return images, np.array(labels)


def _blobs(n: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Red vs blue discs at random places: mirroring keeps the class."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(n):
        img = Image.new("RGB", (48, 48), (128, 128, 128))
        x, y = rng.integers(8, 40, 2)
        ImageDraw.Draw(img).ellipse([x - 7, y - 7, x + 7, y + 7], fill=(220, 30, 30) if i % 2 else (30, 30, 220))
        images.append(img)
        labels.append(i % 2)
    return images, np.array(labels)


def test_mirrored_classes_turn_flips_off():
    p, why = choose_hflip(*_arrows(40))
    assert p == 0.0
    assert "off" in why and "mirror" in why


def test_classes_that_survive_a_mirror_keep_flips_on():
    p, why = choose_hflip(*_blobs(40))
    assert p == DEFAULT_HFLIP
    assert "stay on" in why


def test_too_few_images_keep_the_default():
    images, labels = _arrows(3)
    assert choose_hflip(images, labels)[0] == DEFAULT_HFLIP


def test_a_run_on_digits_saves_the_choice_and_says_why(tmp_path):
    data = write_digits(tmp_path / "digits", per_class=12, classes=(2, 3, 5, 7))
    run = konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={"num_epochs": 1, "cv": 0, "image_size": 32}, verbose=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["augment"]["hflip"] == 0.0
    assert run.report["chosen_from_data"]["augment.hflip"]["value"] == 0.0
    assert "Chosen from the data" in (tmp_path / "run" / "summary.md").read_text()
    # an explicit setting is honoured and not second-guessed
    run2 = konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run2",
                           overrides={"num_epochs": 1, "cv": 0, "image_size": 32, "augment": {"hflip": 0.5}},
                           verbose=False)
    assert run2.config.augment.hflip == 0.5
    assert run2.report["chosen_from_data"] == {}


def test_unsure_checks_keep_the_default_whatever_the_seed():
    """30 images, 40 % of them mirror-sensitive arrows: the drop sits near the line, and the old
    rule decided differently from one seed (one face) to the next; unsure, the default stays."""
    choices = []
    for seed in range(6):
        arrows, arrow_labels = _arrows(12, seed)
        blobs, blob_labels = _blobs(18, seed + 10)
        choices.append(choose_hflip(arrows + blobs, np.concatenate([arrow_labels, blob_labels]), seed))
    assert {p for p, _ in choices} == {DEFAULT_HFLIP}
    assert any("unsure on 30 images" in why for _, why in choices)
