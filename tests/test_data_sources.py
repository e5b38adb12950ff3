"""Finding examples: the layouts users give, and every structural mistake they make."""
import csv
import io
import shutil
import zipfile

import pytest

from konstrukt.data import discover, safe_extract_zip, stratified_folds, stratified_split
from konstrukt.errors import DataError


def test_class_folders_are_found_hashed_and_fingerprinted(image_data):
    ds = discover(image_data, "image")
    assert ds.classes == ["circle", "square", "stripes"]
    assert len(ds.samples) == 18 and all(len(s.digest) == 64 for s in ds.samples)
    assert not ds.presplit
    assert ds.fingerprint() == discover(image_data, "image").fingerprint()


def test_train_test_folders_are_used_as_given(image_data, tmp_path):
    root = tmp_path / "presplit"
    for split, names in (("train", range(4)), ("test", range(4, 6))):
        for c in ("circle", "square"):
            (root / split / c).mkdir(parents=True)
            for i in names:
                shutil.copy(image_data / c / f"{c}_{i}.png", root / split / c)
    ds = discover(root, "image")
    assert ds.presplit and {s.split for s in ds.samples} == {"train", "test"}


def test_zip_and_csv_give_the_same_data_as_the_folder(image_data, tmp_path):
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in image_data.rglob("*.png"):
            zf.write(f, f"data/{f.parent.name}/{f.name}")
    table = tmp_path / "labels.csv"
    with open(table, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label"])
        for p in sorted(image_data.rglob("*.png")):
            w.writerow([p.relative_to(tmp_path), p.parent.name])
    want = discover(image_data, "image").fingerprint()
    assert discover(archive, "image").fingerprint() == want
    assert discover(table, "image").fingerprint() == want


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="data not found: .*nowhere"):
        discover(tmp_path / "nowhere", "image")


def test_empty_class_folder_is_named(image_data):
    (image_data / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*holds no image files"):
        discover(image_data, "image")


def test_only_one_class_is_refused(image_data):
    shutil.rmtree(image_data / "square")
    shutil.rmtree(image_data / "stripes")
    with pytest.raises(DataError, match="found 1 class .*at least 2"):
        discover(image_data, "image")


def test_files_of_other_types_are_skipped_with_a_warning_listing_them(image_data):
    (image_data / "circle" / "notes.txt").write_text("hello")
    (image_data / "circle" / ".DS_Store").write_bytes(b"\0")
    ds = discover(image_data, "image")
    assert len(ds.samples) == 18
    assert any("skipped 1 file" in w and "notes.txt" in w for w in ds.warnings)


def test_same_file_under_two_classes_is_warned_as_label_conflict(image_data):
    shutil.copy(image_data / "circle" / "circle_0.png", image_data / "square" / "copy.png")
    ds = discover(image_data, "image")
    assert any("label conflict" in w and "circle" in w and "square" in w for w in ds.warnings)


def test_unicode_class_names_are_kept(image_data):
    (image_data / "circle").rename(image_data / "Kreis-ß-日本")
    assert "Kreis-ß-日本" in discover(image_data, "image").classes


@pytest.mark.parametrize("name", ["../evil.png", "/abs/evil.png"])
def test_archives_with_escaping_paths_are_refused_before_writing(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/a.png", b"x")
        zf.writestr(name, b"x")
    dest = tmp_path / "out"
    with pytest.raises(DataError, match="evil.png"):
        safe_extract_zip(archive, dest)
    assert not dest.exists() or not any(dest.rglob("*"))


def test_zip_bombs_and_symlinks_are_refused(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/zeros.png", b"\0" * (50 * 1024**2))
    with pytest.raises(DataError, match="zip bomb"):
        safe_extract_zip(bomb, tmp_path / "out1")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("a/link.png")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        safe_extract_zip(link, tmp_path / "out2")


def test_a_corrupt_zip_names_the_archive(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match="bad.zip"):
        discover(bad, "image")


def test_stratified_split_keeps_every_class_in_every_split_and_is_seeded():
    labels = ["a"] * 3 + ["b"] * 40
    tr, va, te = stratified_split(labels, 0.15, 0.2, seed=1)
    for part in (tr, va, te):
        assert {labels[i] for i in part} == {"a", "b"}
    assert sorted(tr + va + te) == list(range(43))
    assert (tr, va, te) == stratified_split(labels, 0.15, 0.2, seed=1)


def test_class_with_one_example_cannot_be_split():
    with pytest.raises(DataError, match="class `b`: 1 example, at least 3"):
        stratified_split(["a"] * 5 + ["b"], 0.15, 0.2, seed=0)


def test_folds_are_stratified_and_lowered_to_the_smallest_class():
    labels = ["a"] * 3 + ["b"] * 10
    folds = stratified_folds(labels, 5, seed=0)
    assert len(folds) == 3
    for tr, te in folds:
        assert {labels[i] for i in te} == {"a", "b"}
