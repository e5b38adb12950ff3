"""The classical reference model and the small-data recipe around it (fast, offline)."""
import numpy as np
import pytest
from PIL import Image

import konstrukt
from konstrukt.modalities.audio.preprocess import duration_from_clips
from konstrukt.modalities.audio.reference import mfcc_stats
from konstrukt.modalities.image.reference import hog, image_features
from konstrukt.modalities.signal.reference import signal_stats
from konstrukt.tasks import MODALITIES


def test_reference_features_have_fixed_sizes_whatever_the_input():
    rng = np.random.default_rng(0)
    assert mfcc_stats(rng.normal(size=16000).astype(np.float32), 16000).shape == (80,)
    assert mfcc_stats(np.zeros(300, np.float32), 16000).shape == (80,)  # a scrap of audio still works
    for size in [(25, 25), (640, 427)]:
        img = Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8))
        assert image_features(img).shape == (16 * 16 + 8 * 8 * 9 + 24,)
    assert {MODALITIES.get(m).reference().name for m in ("audio", "image", "signal")} == {
        "mfcc_logreg", "hog_logreg", "stats_logreg"}
    assert signal_stats(rng.normal(size=(6, 400))).shape == signal_stats(np.ones((6, 1))).shape == (54,)


def test_signal_stats_are_the_named_statistics():
    x = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    f = signal_stats(x).reshape(9, 2)  # rows: mean std min max q25 q50 q75 wiggle slope
    assert f[:, 0].tolist() == pytest.approx([2.0, np.sqrt(2.0), 0.0, 4.0, 1.0, 2.0, 3.0, 1.0, 1.0])
    assert f[:, 1].tolist() == pytest.approx([5.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 0.0])


def test_signal_run_reports_the_reference_on_the_same_split_and_folds(tmp_path):
    from tests.conftest import SIGNAL_FAST, write_signals

    data = write_signals(tmp_path / "d", per_class=8)
    run = konstrukt.train(data, task="signal", pipeline="rescnn", out=tmp_path / "run", verbose=False,
                          overrides={**SIGNAL_FAST, "cv": 3})
    r = run.report
    assert r["reference"]["name"] == "stats_logreg" and r["reference"]["test"]["n"] == r["test"]["n"]
    assert r["reference"]["cv"]["folds"] == r["cv"]["folds"] == 3
    assert r["reference"]["test"]["accuracy"] > 0.6  # ramps up/down vs flat: slope and mean tell them apart
    assert r["baseline"]


def test_hog_sees_orientation():
    stripes = np.tile((np.arange(64) // 4 % 2).astype(np.float32), (64, 1))  # vertical edges
    cells = hog(stripes).reshape(8, 8, 9)
    assert cells[..., 0].mean() > 0.9  # horizontal gradient → orientation bin 0 everywhere



def test_duration_from_clips_keeps_most_clips_whole_within_bounds():
    rate = 16000
    assert duration_from_clips([int(0.4 * rate)] * 9 + [int(1.23 * rate)] * 11, rate) == 1.3
    assert duration_from_clips([100] * 5, rate) == 0.5  # never shorter than half a second
    assert duration_from_clips([60 * rate] * 5, rate) == 10.0  # never longer than 10 s


def test_run_reports_the_reference_on_the_same_split_and_folds(image_data, tmp_path, fast):
    run = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={**fast, "cv": 3}, verbose=False)
    r = run.report
    ref = r["reference"]
    assert ref["name"] == "hog_logreg" and ref["test"]["n"] == r["test"]["n"]
    assert ref["cv"]["folds"] == r["cv"]["folds"] == 3
    assert [f["n"] for f in ref["cv"]["per_fold"]] == [f["n"] for f in r["cv"]["per_fold"]]
    assert ref["cv"]["accuracy_mean"] > 0.5  # shapes are easy for HOG (chance: 1/3)
    assert r["baseline"] and "simple baseline" in (run.path / "summary.md").read_text()


def test_tiny_validation_split_does_not_choose_epochs(image_data, tmp_path, fast):
    run = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "run",
                          overrides={**fast, "num_epochs": 3}, verbose=False)
    r = run.report
    assert "too few to choose epochs" in r["epoch_policy"]
    assert len(r["history"]) == 3 and all(h["val_loss"] is None for h in r["history"])
    assert r["val"] is None and r["best_epoch"] == 3
    trusted = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "trusted",
                              overrides={**fast, "early_stopping": {"min_val_per_class": 1}},
                              verbose=False)
    assert trusted.report["epoch_policy"] is None and trusted.report["history"][0]["val_loss"] is not None


def test_a_failing_reference_does_not_lose_the_trained_model(image_data, tmp_path, fast, monkeypatch):
    import dataclasses

    from konstrukt.reference import ReferenceSpec

    def broken(img, pre):
        raise ImportError("numba needs another numpy")

    image = MODALITIES.get("image")
    monkeypatch.setitem(MODALITIES._entries, "image",
                        dataclasses.replace(image, reference=lambda: ReferenceSpec("x", "x", broken)))
    run = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "run", overrides=fast,
                          verbose=False)
    assert run.report["reference"] is None and run.report["baseline"] is None
    assert run.report["test"]["accuracy"] >= 0


@pytest.mark.parametrize("rate,seconds", [(16000, 1.3), (22050, 0.2), (16000, 0.02)])
def test_mfcc_stats_are_librosas_mfccs_and_deltas(rate, seconds):
    librosa = pytest.importorskip("librosa")
    wave = np.random.default_rng(1).normal(scale=0.1, size=int(rate * seconds)).astype(np.float32)
    wave[: wave.size // 3] *= 0.01  # quiet and loud parts: the 80 dB floor matters
    padded = wave if wave.size >= 2048 else np.pad(wave, (0, 2048 - wave.size))
    mfcc = librosa.feature.mfcc(y=padded, sr=rate, n_mfcc=20)
    delta = librosa.feature.delta(mfcc, mode="nearest")
    expected = np.concatenate([mfcc.mean(1), mfcc.std(1), delta.mean(1), delta.std(1)])
    np.testing.assert_allclose(mfcc_stats(wave, rate), expected, rtol=1e-3, atol=1e-3)
