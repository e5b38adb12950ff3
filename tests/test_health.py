"""Data health: each check on data built to hold exactly that problem, and clean data that holds none."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image, ImageEnhance

from konstrukt.config import TrainConfig
from konstrukt.data import discover
from konstrukt.data.health import check, check_data, enforce
from konstrukt.data.similarity import cosine_candidates, hamming_pairs
from konstrukt.demo import write_digits
from konstrukt.demo_sound import synth_clip, write_sound_demo
from konstrukt.errors import DataError
from konstrukt.review import likely_mislabelled, what_to_add_next

SR = 16000


def kinds(report) -> list[str]:
    return sorted(f.kind for f in report.findings)


def names(report, finding) -> set[str]:
    return {report.sample_dict(i)["name"] for i in finding.samples}


def near_copy(src: Path, dest: Path) -> None:
    """The same picture resized, a little brighter, saved again: different bytes, same image."""
    img = Image.open(src).convert("RGB")
    ImageEnhance.Brightness(img.resize((40, 40), Image.BICUBIC)).enhance(1.1).save(dest)


@pytest.fixture
def digits(tmp_path) -> Path:
    """Real scans (scikit-learn's digits), three classes × 10: a clean set."""
    return write_digits(tmp_path / "digits", per_class=10, classes=(0, 1, 2))


def first(folder: Path) -> Path:
    return sorted(folder.iterdir())[0]


# --------------------------------------------------------------------------- clean sets


def test_clean_images_have_no_findings(digits):
    report = check(digits, "image")
    assert report.findings == [] and report.removed == {}
    assert report.to_dict()["ok"] and report.checked == 30


def test_clean_sounds_have_no_findings(tmp_path):
    # Same-kind synthetic clips (chirps, tones, bursts, clicks) look alike spectrally: the
    # waveform check must still tell two takes from one copied take.
    data = write_sound_demo(tmp_path / "snd", per_class=8, seconds=1.0)
    report = check(data, "sound")
    assert report.findings == [], report.lines()


# --------------------------------------------------------------------------- duplicates


def test_exact_duplicate_within_a_class(digits):
    src = first(digits / "one")
    shutil.copy(src, digits / "one" / "copy.png")
    report = check(digits, "image")
    (dup,) = report.by_kind("exact_duplicate")
    assert names(report, dup) == {f"one/{src.name}", "one/copy.png"} and dup.severity == "warning"
    assert not report.by_kind("label_conflict")


def test_near_duplicate_image_within_a_class(digits):
    src = first(digits / "two")
    near_copy(src, digits / "two" / "again.png")
    report = check(digits, "image")
    (dup,) = report.by_kind("near_duplicate")
    assert names(report, dup) == {f"two/{src.name}", "two/again.png"}
    assert not report.by_kind("exact_duplicate")


def test_label_conflicts_exact_and_near(digits):
    shutil.copy(first(digits / "zero"), digits / "one" / "zero_as_one.png")
    near_copy(first(digits / "two"), digits / "zero" / "two_as_zero.png")
    report = check(digits, "image")
    conflicts = report.by_kind("label_conflict")
    assert len(conflicts) == 2 and all(f.severity == "error" for f in conflicts)
    assert {frozenset(f.detail["labels"]) for f in conflicts} == {frozenset({"zero", "one"}),
                                                                  frozenset({"zero", "two"})}
    assert {f.detail["exact"] for f in conflicts} == {True, False}
    with pytest.raises(DataError, match="label conflicts"):
        enforce(report, strict=True)
    enforce(report, strict=False)


def _presplit(tmp_path: Path) -> Path:
    src = write_digits(tmp_path / "src", per_class=12, classes=(0, 1))
    root = tmp_path / "split"
    for c in ("zero", "one"):
        files = sorted((src / c).iterdir())
        for split, part in (("train", files[:8]), ("test", files[8:])):
            (root / split / c).mkdir(parents=True)
            for f in part:
                shutil.copy(f, root / split / c / f.name)
    return root


def test_leakage_across_given_splits_is_removed_from_evaluation(tmp_path):
    root = _presplit(tmp_path)
    assert not check(root, "image").findings
    near_copy(first(root / "train" / "one"), root / "test" / "one" / "leaked.png")
    dataset = discover(root, "image")
    splits = {k: [i for i, s in enumerate(dataset.samples) if s.split == k] for k in ("train", "val", "test")}
    report = check_data(dataset, "image", splits=splits)
    (leak,) = report.by_kind("leakage")
    leaked = next(i for i, s in enumerate(dataset.samples) if s.path.name == "leaked.png")
    assert leak.severity == "error" and leak.detail["removed"] == [leaked]
    assert report.removed == {"test": [leaked]}
    assert leaked not in report.apply(splits)["test"] and len(report.apply(splits)["test"]) == len(splits["test"]) - 1
    assert report.to_dict()["removed_from_evaluation"]["test"][0]["name"] == "one/leaked.png"
    keep = check_data(dataset, "image", TrainConfig(health={"remove_leaked": False}), splits)
    assert keep.by_kind("leakage") and keep.removed == {}


def test_duplicate_inside_one_evaluation_split_is_no_leak(tmp_path):
    root = _presplit(tmp_path)
    shutil.copy(first(root / "test" / "zero"), root / "test" / "zero" / "again.png")
    report = check(root, "image")
    assert kinds(report) == ["exact_duplicate"] and report.removed == {}


# --------------------------------------------------------------------------- counts


def test_imbalance(tmp_path):
    data = write_digits(tmp_path / "d", per_class=13, classes=(0, 1))
    for f in sorted((data / "one").iterdir())[4:]:
        f.unlink()
    report = check(data, "image")
    (imb,) = report.by_kind("imbalance")
    # judged on what trains: the training split of check's stratified split (13 vs 4 in all)
    assert imb.detail["per_class"] == {"one": 2, "zero": 8} and imb.detail["split"] == "train"
    assert "`one`" in imb.action and imb.message.startswith("in the training split")
    balanced = check(write_digits(tmp_path / "b", per_class=9, classes=(0, 1)), "image")
    assert not balanced.by_kind("imbalance")


def test_imbalance_is_judged_on_the_training_split_not_the_whole_folder(tmp_path):
    """A training split of 15 vs 3 (5×) is reported although a test split of 3 vs 15 evens the totals."""
    src = write_digits(tmp_path / "src", per_class=18, classes=(0, 1))
    root = tmp_path / "split"
    for c, n_train in (("zero", 15), ("one", 3)):
        files = sorted((src / c).iterdir())
        for split, part in (("train", files[:n_train]), ("test", files[n_train:])):
            (root / split / c).mkdir(parents=True)
            for f in part:
                shutil.copy(f, root / split / c / f.name)
    dataset = discover(root, "image")
    assert sorted(dataset.labels()).count("one") == sorted(dataset.labels()).count("zero") == 18
    splits = {k: [i for i, s in enumerate(dataset.samples) if s.split == k] for k in ("train", "val", "test")}
    (imb,) = check_data(dataset, "image", splits=splits).by_kind("imbalance")
    assert imb.detail["per_class"] == {"one": 3, "zero": 15} and imb.detail["ratio"] == 5.0
    assert "`one`" in imb.action
    assert not check_data(dataset, "image").by_kind("imbalance")  # no splits: the whole set is even


def test_too_few_for_the_split_and_for_cv(tmp_path):
    data = write_digits(tmp_path / "d", per_class=6, classes=(0, 1, 2))
    for f in sorted((data / "two").iterdir())[2:]:
        f.unlink()
    report = check(data, "image")
    errors = [f for f in report.by_kind("too_few") if f.severity == "error"]
    assert [f.detail["class"] for f in errors] == ["two"]
    (cv,) = [f for f in report.by_kind("too_few") if f.severity == "warning"]
    assert cv.detail["folds"] == 5 and cv.detail["classes"] == ["one", "two", "zero"]
    no_cv = check(data, "image", TrainConfig(cv=0))
    assert [f.severity for f in no_cv.by_kind("too_few")] == ["error"]


# --------------------------------------------------------------------------- outliers and flat files


def test_image_outliers_blank_and_unreadable(digits):
    Image.open(first(digits / "zero")).resize((320, 320)).save(digits / "zero" / "huge.png")
    Image.open(first(digits / "one")).convert("RGB").save(digits / "one" / "colour.png")
    Image.new("L", (32, 32), 128).save(digits / "two" / "blank.png")
    (digits / "two" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    report = check(digits, "image")
    by_prop = {f.detail["property"]: f for f in report.by_kind("outlier")}
    assert names(report, by_prop["pixels"]) == {"zero/huge.png"}
    assert list(by_prop["pixels"].notes.values()) == [{"value": "320×320 px"}]
    assert names(report, by_prop["colour"]) == {"one/colour.png"}
    assert names(report, report.by_kind("blank")[0]) == {"two/blank.png"}
    (bad,) = report.by_kind("unreadable")
    assert names(report, bad) == {"two/broken.png"} and "broken.png" in str(report.to_dict())


def _write(path: Path, wave: np.ndarray, rate: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, rate, subtype="PCM_16")


@pytest.fixture
def sounds(tmp_path) -> Path:
    return write_sound_demo(tmp_path / "snd", per_class=6, seconds=1.0,
                            classes=("rising_chirp", "noise_burst", "harmonic_tone"))


def test_audio_outliers_silence_and_constant(sounds):
    rng = np.random.default_rng(5)
    _write(sounds / "noise_burst" / "quiet.wav", rng.standard_normal(SR).astype(np.float32) * 1e-4)
    _write(sounds / "noise_burst" / "dc.wav", np.full(SR, 0.25, np.float32))
    clip = synth_clip("harmonic_tone", rng, 1.0, 8000)
    _write(sounds / "harmonic_tone" / "phone.wav", clip, 8000)
    _write(sounds / "rising_chirp" / "stereo.wav", np.stack([synth_clip("rising_chirp", rng)] * 2, 1)[:SR])
    _write(sounds / "rising_chirp" / "long.wav", synth_clip("rising_chirp", rng, seconds=8.0))
    report = check(sounds, "sound")
    assert names(report, report.by_kind("silent")[0]) == {"noise_burst/quiet.wav"}
    assert names(report, report.by_kind("constant")[0]) == {"noise_burst/dc.wav"}
    by_prop = {f.detail["property"]: f for f in report.by_kind("outlier")}
    assert names(report, by_prop["sample_rate"]) == {"harmonic_tone/phone.wav"}
    assert names(report, by_prop["channels"]) == {"rising_chirp/stereo.wav"}
    assert names(report, by_prop["duration"]) == {"rising_chirp/long.wav"}
    assert not report.by_kind("near_duplicate") and not report.by_kind("label_conflict")


def test_audio_near_duplicate_across_classes(sounds):
    wave, rate = sf.read(first(sounds / "noise_burst"), dtype="float32")
    noisy = 0.5 * wave[400:] + np.random.default_rng(1).standard_normal(len(wave) - 400).astype(np.float32) * 1e-3
    _write(sounds / "rising_chirp" / "burst_again.wav", noisy, rate)
    report = check(sounds, "sound")
    (conflict,) = report.by_kind("label_conflict")
    assert "rising_chirp/burst_again.wav" in names(report, conflict) and not conflict.detail["exact"]


# --------------------------------------------------------------------------- vectorised searches


def test_hamming_pairs_match_brute_force():
    rng = np.random.default_rng(0)
    h = rng.integers(0, 2**63, 300, dtype=np.uint64)
    h[10] = h[3] ^ np.uint64(0b1011)  # 3 bits apart
    h[200] = h[7]
    got = {tuple(p) for p in hamming_pairs(h, 4, block=64)}
    want = {(i, j) for i in range(300) for j in range(i + 1, 300) if bin(int(h[i]) ^ int(h[j])).count("1") <= 4}
    assert got == want and {(3, 10), (7, 200)} <= got


def test_cosine_candidates_match_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 16)).astype(np.float32)
    x[50] = x[5] + 0.01
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    got = {tuple(p) for p in cosine_candidates(x, 0.95, block=32)}
    sim = x @ x.T
    assert got == {(i, j) for i in range(200) for j in range(i + 1, 200) if sim[i, j] >= 0.95} == {(5, 50)}


# --------------------------------------------------------------------------- after training


def test_likely_mislabelled_from_out_of_fold_probabilities():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 10)
    proba = np.full((30, 3), 0.05)
    proba[np.arange(30), y] = 0.9
    proba += rng.uniform(0, 0.02, proba.shape)
    proba /= proba.sum(1, keepdims=True)
    assert likely_mislabelled(y, proba, ["a", "b", "c"], list(range(100, 130))) == []
    proba[4] = [0.03, 0.94, 0.03]  # labelled a, every model says b
    (found,) = likely_mislabelled(y, proba, ["a", "b", "c"], list(range(100, 130)))
    assert found.samples == [104] and found.notes[104]["given"] == "a" and found.notes[104]["suggested"] == "b"


def test_what_to_add_next_names_weak_classes_and_confused_pairs():
    cm = np.array([[10, 0, 0], [0, 6, 4], [0, 3, 7]])
    found = what_to_add_next(cm, ["cat", "dog", "fox"], "cross-validation")
    assert found.detail["weakest"] == ["dog", "fox"]
    assert "`dog` and `fox` are mixed up most" in found.message and "60 %" in found.message
    good = what_to_add_next(np.diag([10, 10]), ["a", "b"], "the test split")
    assert good.detail["weakest"] == [] and "recognised well" in good.message


def test_advice_is_worded_by_the_modality():
    """Sound runs are not told to add other lighting: each modality registers its own words."""
    from konstrukt.data.health import HealthReport
    from konstrukt.review import review

    words = {}
    for task in ("image", "sound", "signal"):
        health = HealthReport(dataset=None)
        test = {"confusion_matrix": [[5, 0], [0, 5]]}
        review(health, np.array([0, 1]), None, [], ["a", "b"], test, task=task)
        words[task] = health.by_kind("add_next")[0].message
    assert "lighting" in words["image"] and "lighting" not in words["sound"] + words["signal"]
    assert "microphones" in words["sound"] and "sensor placements" in words["signal"]


def test_train_says_where_the_files_are_listed():
    from konstrukt.review import where_listed

    mislabelled = {"kind": "mislabelled", "stage": "training"}
    assert "`konstrukt check` cannot" in where_listed([mislabelled])
    assert "`konstrukt check` lists the files" in where_listed([mislabelled, {"kind": "imbalance", "stage": "data"}])


def test_copies_stay_in_one_cross_validation_fold(digits):
    from konstrukt.data import stratified_folds

    shutil.copy(first(digits / "one"), digits / "one" / "copy.png")
    near_copy(first(digits / "two"), digits / "zero" / "two_as_zero.png")
    report = check(digits, "image")
    pool = list(range(len(report.dataset.samples)))
    groups = report.groups(pool)
    assert len(set(groups)) == len(pool) - 2
    labels = report.dataset.labels()
    for seed in range(5):
        for train, held in stratified_folds(labels, 5, seed, groups):
            for f in report.by_kind("exact_duplicate") + report.by_kind("label_conflict"):
                assert not (set(f.samples) & set(train) and set(f.samples) & set(held))


def test_mislabelled_needs_a_clear_doubt_and_a_model_better_than_guessing():
    from konstrukt.data.findings import HealthReport
    from konstrukt.data.samples import Dataset, Sample

    y = np.repeat([0, 1], 10)
    weak = np.full((20, 2), 0.5)
    weak[:, 1] += np.where(np.arange(20) % 2 == 0, 0.03, -0.03)  # a coin-flip model
    assert likely_mislabelled(y, weak, ["a", "b"], list(range(20))) == []  # 53 % vs 47 %: no evidence
    samples = [Sample(Path(f"{i}.png"), "ab"[c]) for i, c in enumerate(y)]
    from konstrukt.review import review

    health = HealthReport(Dataset(samples, ["a", "b"], "mem"))
    review(health, y, weak, list(range(20)), ["a", "b"], None)
    (skipped,) = health.by_kind("mislabelled")
    assert skipped.severity == "info" and skipped.detail["skipped"] and "hardly better" in skipped.message


def test_a_modality_without_health_hooks_still_gets_the_checks_that_need_no_reading(digits, monkeypatch):
    import dataclasses

    from konstrukt.tasks import MODALITIES

    image = MODALITIES.get("image")
    monkeypatch.setitem(MODALITIES._entries, "image", dataclasses.replace(image, health=None))
    shutil.copy(first(digits / "zero"), digits / "one" / "copy.png")
    near_copy(first(digits / "two"), digits / "two" / "again.png")  # not found: needs reading
    report = check(digits, "image")
    assert "label_conflict" in kinds(report) and set(kinds(report)) <= {"label_conflict", "leakage"}


def test_the_checks_use_the_hooks_on_the_modality_record(digits, monkeypatch):
    """The engine asks the task's Modality record for its health hooks: a wing that measures its
    files its own way (here: every file blank) gets the shared checks on those measurements."""
    import dataclasses
    from collections import OrderedDict

    from konstrukt.data import measure as measures
    from konstrukt.data.measure import HealthHooks, Measure
    from konstrukt.tasks import MODALITIES

    monkeypatch.setattr(measures, "_CACHE", OrderedDict())  # these files were measured by the real hooks
    seen = []

    def measure(path):
        seen.append(path.name)
        return Measure({"size": 1.0}, flat="empty")

    hooks = HealthHooks(measure, lambda m, idx, samples, config: np.zeros((0, 2), int), {"size": "size"}, {},
                        lambda key, value, meta: str(value), noun="thing", flats={"empty": "{are} empty"})
    image = MODALITIES.get("image")
    monkeypatch.setitem(MODALITIES._entries, "image", dataclasses.replace(image, health=lambda: hooks))
    report = check(digits, "image")
    assert len(seen) == 30 and [f.kind for f in report.findings] == ["empty"]
    assert report.findings[0].message == "30 things are empty"
