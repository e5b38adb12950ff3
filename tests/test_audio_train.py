"""Sound training end to end through the library, on synthetic clips (tiny, offline)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import konstrukt
from tests.conftest import AUDIO_TINY
from konstrukt.demo_sound import SOUND_CLASSES, synth_clip, write_sound_demo
from konstrukt.models.backbones import BACKBONES, build_backbone

FAST = {"audio": {"duration": 1.0}, "num_epochs": 2, "target_size": 6, "batch_size": 8, "cv": 0}


@pytest.fixture(scope="module")
def sound_data(tmp_path_factory):
    return write_sound_demo(tmp_path_factory.mktemp("sound"), per_class=6, seconds=1.0,
                            classes=("rising_chirp", "falling_chirp", "noise_burst"))


def test_demo_sounds_are_varied_and_well_formed():
    rng = np.random.default_rng(0)
    for kind in SOUND_CLASSES:
        a, b = synth_clip(kind, rng, 0.5), synth_clip(kind, rng, 0.5)
        assert a.shape == (8000,) and a.dtype == np.float32 and np.abs(a).max() <= 1.0
        assert not np.array_equal(a, b) and np.abs(a).max() > 0.03


def test_scratch_melcnn_trains_predicts_and_reloads(sound_data, tmp_path):
    run = konstrukt.train(sound_data, task="sound", pipeline="scratch_melcnn", out=tmp_path / "run",
                          config=FAST, verbose=False)
    report = json.loads((run.path / "report.json").read_text())
    assert report["pipeline"] == "scratch_melcnn" and len(report["history"]) == 2
    assert set(report["test"]["per_class"]) == {"rising_chirp", "falling_chirp", "noise_burst"}
    files = sorted(sound_data.rglob("*.wav"))[:3]
    again = konstrukt.load_run(run.path)
    assert np.allclose(again.predict_proba(files), run.predict_proba(files), atol=1e-5)
    assert again.predict(files)[0]["label"] in report["classes"]


def test_panns_probe_with_a_written_checkpoint(sound_data, tmp_path, monkeypatch):
    monkeypatch.setitem(BACKBONES.get("cnn14").extra, "config_overrides", AUDIO_TINY["cnn14"])
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_cnn14.pth"
    torch.save({"model": build_backbone("cnn14", "none").state_dict()}, ckpt)  # official wrapper
    run = konstrukt.train(sound_data, task="sound", pipeline="panns_cnn14_mlp", out=tmp_path / "run",
                          config={**FAST, "pretrained": str(ckpt), "num_epochs": 5}, verbose=False)
    assert run.report["config"]["strategy"] == "probe"
    assert run.report["params_trainable"] < run.report["params_total"]
    assert konstrukt.load_run(run.path).predict(sorted(sound_data.rglob("*.wav"))[:2])


def test_panns_default_weights_offline_say_how_to_fix(sound_data, tmp_path):
    from konstrukt.errors import WeightsUnavailableError

    with pytest.raises(WeightsUnavailableError, match="--pretrained"):
        konstrukt.train(sound_data, task="sound", pipeline="panns_cnn14_mlp", out=tmp_path / "run", config=FAST,
                        verbose=False)


@pytest.fixture
def tiny_transformers(tiny_audio):
    """Tiny transformers and a narrow log-mel for ResNet18 (see tests/conftest.py)."""


@pytest.mark.parametrize("pipeline", ["resnet18_melspec", "ast_finetune", "wav2vec2_linear",
                                      "wav2vec2_mlp"])
def test_other_pipelines_train_from_random_weights(sound_data, tmp_path, tiny_transformers, pipeline):
    run = konstrukt.train(sound_data, task="sound", pipeline=pipeline, out=tmp_path / "run",
                          config={**FAST, "num_epochs": 1, "pretrained": "none", "target_size": 0},
                          verbose=False)
    assert run.report["pipeline"] == pipeline and 0 <= run.report["test"]["accuracy"] <= 1
    assert konstrukt.load_run(run.path).predict(sorted(sound_data.rglob("*.wav"))[:1])


def test_speech_auto_compares_linear_and_mlp_on_folds(sound_data, tmp_path, tiny_transformers):
    run = konstrukt.train(sound_data, task="speech", pipeline="auto", out=tmp_path / "run",
                          config={**FAST, "num_epochs": 2, "pretrained": "none", "target_size": 0,
                                  "cv": 2},
                          verbose=False)
    assert run.report["task"] == "speech"
    selection = run.report["selection"]
    scored = {c["name"] for c in selection["candidates"] if c["status"] == "scored"}
    assert {"wav2vec2_linear", "wav2vec2_mlp", "mfcc_logreg"} <= scored  # both heads on the same folds
    assert selection["kept"] == run.report["pipeline"] and "fold std" in selection["rule"]


def test_sound_through_the_cli_train_evaluate_predict(sound_data, tmp_path, capsys):
    from konstrukt.cli import main

    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps(FAST))
    run = tmp_path / "run"
    assert main(["train", str(sound_data), "--task", "sound", "--pipeline", "scratch_melcnn",
                 "--config", str(cfg), "--out", str(run), "--quiet"]) == 0
    assert "test (held out)" in capsys.readouterr().out
    assert main(["evaluate", str(run), str(sound_data), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 18
    wav = sorted(sound_data.rglob("*.wav"))[0]
    assert main(["predict", str(run), str(wav), "--json"]) == 0
    (pred,) = json.loads(capsys.readouterr().out)
    assert pred["file"] == str(wav) and abs(sum(pred["probabilities"].values()) - 1) < 1e-4


def test_long_files_vote_over_windows_at_prediction(sound_data, tmp_path):
    import soundfile as sf

    run = konstrukt.train(sound_data, task="sound", pipeline="scratch_melcnn", out=tmp_path / "run",
                          config={**FAST, "audio": {"duration": 0.5, "long_files": "windows"}},
                          verbose=False)
    rng = np.random.default_rng(1)
    # 3 s: a rising chirp, then a noise burst, then a falling chirp — six 0.5-s windows.
    parts = [synth_clip(k, rng, 1.0) for k in ("rising_chirp", "noise_burst", "falling_chirp")]
    long_file = tmp_path / "long.wav"
    sf.write(long_file, np.concatenate(parts), 16000)
    windows = run.pre.load_windows(long_file)
    assert len(windows) == 6
    x = torch.stack([run.pre.tensor(w) for w in windows])
    with torch.inference_mode():
        expected = torch.softmax(run.model.eval()(x), 1).mean(0).numpy()  # the soft vote
    got = run.predict_proba([long_file])[0]
    assert np.allclose(got, expected, atol=1e-5) and abs(got.sum() - 1) < 1e-5


def test_same_seed_gives_the_same_audio_run(sound_data, tmp_path):
    """Waveform augmentation draws from the seeded RNG: two runs with one seed are identical."""
    cfg = {**FAST, "num_epochs": 2, "cv": 0}
    runs = [konstrukt.train(sound_data, task="sound", pipeline="scratch_melcnn", out=tmp_path / f"r{i}",
                            config=cfg, verbose=False) for i in range(2)]
    assert runs[0].report["history"] == runs[1].report["history"]
    assert runs[0].report["test"] == runs[1].report["test"]
