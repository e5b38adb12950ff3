"""Image near duplicates on tiny content (#21 item 15): scikit-learn's 8×8 digit scans written as
64×64 PNGs. Different writers' digits can share a 64-bit perceptual hash within a few bits; only a
copy of one scan may be called a copy, be reported as leakage or be left out of the score."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from konstrukt.data import discover
from konstrukt.data.health import check, check_data
from konstrukt.data.similarity import hamming_pairs
from konstrukt.demo import write_digits
from konstrukt.modalities.image.health import PHASH_MAX_BITS, grey_cells, same_picture


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> Path:
    """550 real scans, 55 per digit, as 64×64 PNGs: every file a different scan."""
    return write_digits(tmp_path_factory.mktemp("scans") / "digits", per_class=55, size=64)


def recoded(src: Path, dest: Path) -> None:
    """The same scan resized, a little brighter and saved as a JPEG: other bytes, same picture."""
    img = Image.open(src).convert("RGB").resize((90, 90), Image.BICUBIC)
    buf = io.BytesIO()
    ImageEnhance.Brightness(img).enhance(1.08).save(buf, "JPEG", quality=70)
    dest.write_bytes(buf.getvalue())


def test_different_scans_are_not_copies_although_their_hashes_are_close(scans):
    report = check(scans, "image")
    assert report.checked == 550
    # The hash alone pairs different writers' digits: the finer comparison must turn them down.
    hashes = np.array([m for m in _hashes(report)], dtype=np.uint64)
    assert len(hamming_pairs(hashes, PHASH_MAX_BITS)) > 0
    found = {f.kind for f in report.findings}
    assert not found & {"near_duplicate", "label_conflict", "leakage"}, report.lines()
    assert report.removed == {}


def _hashes(report) -> list[int]:
    from konstrukt.config import TrainConfig
    from konstrukt.data.measure import measure_all
    from konstrukt.modalities.image.health import HEALTH

    return [m.key for m in measure_all(report.dataset, "image", HEALTH, TrainConfig(task="image"))]


def test_a_recoded_copy_in_the_test_split_is_still_found_and_left_out(scans, tmp_path):
    root = tmp_path / "split"
    for c in ("seven", "one"):
        files = sorted((scans / c).iterdir())[:12]
        for split, part in (("train", files[:9]), ("test", files[9:])):
            (root / split / c).mkdir(parents=True)
            for f in part:
                shutil.copy(f, root / split / c / f.name)
    original = sorted((root / "train" / "seven").iterdir())[0]
    recoded(original, root / "test" / "seven" / "again.jpg")
    dataset = discover(root, "image")
    splits = {k: [i for i, s in enumerate(dataset.samples) if s.split == k] for k in ("train", "val", "test")}
    report = check_data(dataset, "image", splits=splits)
    (leak,) = report.by_kind("leakage")
    again = next(i for i, s in enumerate(dataset.samples) if s.path.name == "again.jpg")
    assert set(leak.samples) == {again, next(i for i, s in enumerate(dataset.samples) if s.path == original)}
    assert report.removed == {"test": [again]}


def test_same_picture_tolerates_resampling_but_not_a_few_grey_levels():
    rng = np.random.default_rng(0)
    scan = rng.integers(0, 17, (8, 8)).astype(np.float32)  # an 8×8 scan, 16 grey levels
    scan[2, 3], scan[5, 5] = 8, 9
    big = Image.fromarray((scan * 15).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
    assert same_picture(grey_cells(big), grey_cells(big.resize((37, 37), Image.BILINEAR)))
    other = scan.copy()
    other[2, 3] += 4  # another writer: two cells 4 of 16 grey levels apart
    other[5, 5] -= 4
    big2 = Image.fromarray((other * 15).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
    assert not same_picture(grey_cells(big), grey_cells(big2))
    other[5, 5] += 4  # one cell apart: within what a cropped or shifted copy may differ
    big3 = Image.fromarray((other * 15).astype(np.uint8)).resize((64, 64), Image.BICUBIC)
    assert same_picture(grey_cells(big), grey_cells(big3))
