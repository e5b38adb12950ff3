"""Self-describing runs and export: bundles, ONNX fp32/INT8, parity, stand-alone predict.py."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

import konstrukt
from konstrukt.cli import main
from konstrukt.demo_sound import write_sound_demo
from konstrukt.errors import ConfigError, RunError
from konstrukt.models.backbones import BACKBONES
from tests.conftest import AUDIO_TINY, SIGNAL_FAST, write_images, write_signals

IMAGE_FAST = {"num_epochs": 3, "target_size": 8, "batch_size": 8, "image_size": 20, "cv": 0}
SOUND_FAST = {"audio": {"duration": 0.5}, "num_epochs": 2, "target_size": 6, "batch_size": 8, "cv": 0}


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("image")
    data = write_images(root / "data", per_class=8)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="image", pipeline="scratch_cnn", out=root / "run",
                               config=IMAGE_FAST, verbose=False)


@pytest.fixture(scope="module")
def sound_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("sound")
    data = write_sound_demo(root / "data", per_class=6, seconds=0.5,
                            classes=("rising_chirp", "falling_chirp", "noise_burst"))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="sound", pipeline="scratch_melcnn", out=root / "run",
                               config=SOUND_FAST, verbose=False)


@pytest.fixture(scope="module")
def signal_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("signal")
    data = write_signals(root / "data", per_class=6, fmt="csv")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("KONSTRUKT_CACHE", str(root / "cache"))
        return konstrukt.train(data, task="signal", pipeline="rescnn_bilstm_se", out=root / "run",
                               config={**SIGNAL_FAST, "num_epochs": 4}, verbose=False)


def test_files(run, n=6) -> list[Path]:
    return run.data_files("test")[:n]


test_files.__test__ = False  # a helper, not a test


# --------------------------------------------------------------------------- self-describing runs


def test_a_run_describes_its_model_and_preprocessing(image_run, sound_run):
    arch = image_run.report["architecture"]
    assert arch["backbone"]["name"] == "scratch_cnn" and arch["num_classes"] == 3
    assert arch["preprocessing"] == {**image_run.pre.state(), "in_model": {}}
    assert arch["preprocessing"]["size"] == 20
    audio = sound_run.report["architecture"]
    pre = audio["preprocessing"]
    assert (pre["kind"], pre["sample_rate"], pre["length"]) == ("audio", 16000, 8000)
    assert pre["in_model"]["logmel"] == {"type": "LogMel", "n_fft": 512, "win_length": 400,
                                         "hop_length": 320, "n_mels": 64}
    from safetensors.torch import load_file

    constants = load_file(str(sound_run.path / "constants.safetensors"))
    assert set(constants) == {"backbone.logmel.window", "backbone.logmel.mel"}
    assert constants["backbone.logmel.mel"].shape == (257, 64)


def test_preprocessors_round_trip_through_plain_json(image_run, sound_run):
    for run in (image_run, sound_run):
        cfg = json.loads(json.dumps(run.pre.state()))
        again = type(run.pre).from_state(cfg)
        assert again.state() == run.pre.state()
        f = test_files(run, 1)[0]
        assert np.array_equal(again.tensor(again.load(f)).numpy(), run.pre.tensor(run.pre.load(f)).numpy())


def test_runs_load_from_the_folder_alone_after_registry_defaults_change(image_run, sound_run, monkeypatch):
    files = {r: test_files(r) for r in (image_run, sound_run)}
    expected = {r: r.predict_proba(files[r]) for r in (image_run, sound_run)}
    spec = BACKBONES.get("scratch_cnn")
    monkeypatch.setitem(BACKBONES._entries, "scratch_cnn", __import__("dataclasses").replace(
        spec, input=type(spec.input)(48, (0.1, 0.1, 0.1), (0.5, 0.5, 0.5)),
        extra={"config_overrides": {"widths": (8, 8)}}))
    monkeypatch.setitem(BACKBONES.get("scratch_melcnn").extra, "config_overrides", {"n_mels": 32})
    for run in (image_run, sound_run):
        again = konstrukt.load_run(run.path)
        assert np.allclose(again.predict_proba(files[run]), expected[run], atol=1e-6)


def test_old_run_folders_still_load(image_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(image_run.path, old)
    report = json.loads((old / "report.json").read_text())
    del report["architecture"]
    (old / "report.json").write_text(json.dumps(report))
    (old / "constants.safetensors").unlink()
    files = test_files(image_run)
    assert np.allclose(konstrukt.load_run(old).predict_proba(files), image_run.predict_proba(files), atol=1e-6)


# --------------------------------------------------------------------------- export


def _isolated(bundle: Path, script: str, files: list[Path]) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh interpreter that sees the installed libraries but not konstrukt.

    ``-S`` skips site (so the editable konstrukt install's .pth hook never runs) and ``-E -s``
    ignore PYTHONPATH and user site; the libraries' folder is put on sys.path by hand.
    """
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    code = ("import sys, runpy; sys.path[:0] = {site!r}\n"
            "try:\n    import konstrukt\nexcept ImportError:\n    pass\n"
            "else:\n    sys.exit('konstrukt is importable here: ' + konstrukt.__file__)\n"
            "sys.argv = {argv!r}\nrunpy.run_path({script!r}, run_name='__main__')\n").format(
        site=site, script=script, argv=[script, *map(str, files), "--json"])
    return subprocess.run([sys.executable, "-E", "-s", "-S", "-c", code], cwd=bundle,
                          capture_output=True, text=True, timeout=300)


def _standalone(bundle: Path, script: str, files: list[Path]) -> list[dict]:
    done = _isolated(bundle, script, files)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _same_predictions(got: list[dict], want: list[dict], atol: float) -> None:
    assert [g["label"] for g in got] == [w["label"] for w in want]
    for g, w in zip(got, want):
        assert set(g["probabilities"]) == set(w["probabilities"])
        assert all(abs(g["probabilities"][c] - p) < atol for c, p in w["probabilities"].items())


@pytest.mark.parametrize("kind", ["image", "sound"])
def test_all_formats_export_and_run_without_konstrukt(image_run, sound_run, tmp_path, capsys, kind):
    run = image_run if kind == "image" else sound_run
    files = test_files(run)
    assert main(["export", str(run.path), "--format", "all", "--out", str(tmp_path / "b")]) == 0
    assert "top-1 agreement 100.0%" in capsys.readouterr().out
    bundle = tmp_path / "b"
    names = {p.name for p in bundle.iterdir()}
    assert {"model.safetensors", "model.onnx", "model.int8.onnx", "config.json", "predict.py",
            "predict_torch.py", "requirements.txt", "README.md"} <= names
    assert not list(tmp_path.glob(".*partial*"))
    cfg = json.loads((bundle / "config.json").read_text())
    results = cfg["parity"]["results"]
    assert results["onnx fp32"]["top1_agreement"] == 1.0 and results["onnx fp32"]["max_abs_logit_diff"] <= 1e-3
    assert results["onnx int8"]["top1_agreement"] >= 0.97 and results["onnx int8"]["method"].startswith("static")
    assert cfg["parity"]["source"] == "test split" and cfg["parity"]["samples"] == len(run.report["data"]["files"]["test"])
    import onnx

    model = onnx.load(str(bundle / "model.onnx"))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch axis
    if kind == "sound":  # the log-mel front end is inside the graph
        dft = [n for n in model.graph.node if n.op_type == "Conv" and n.input[1].endswith("dft_basis")]
        assert len(dft) == 1
        # the ~1 MB basis is computed from the window in the graph, not stored
        assert not [i for i in model.graph.initializer if i.name.endswith("dft_basis")]
        assert cfg["parity"]["onnx_fp32_bytes"] < 600_000 and cfg["parity"]["int8_size_ratio"] > 2
        int8 = onnx.load(str(bundle / "model.int8.onnx")).graph  # the front end stays in float:
        assert len([n for n in int8.node if n.op_type == "Conv" and n.input[1].endswith("dft_basis")]) == 1
    card = (bundle / "README.md").read_text()
    for words in ("## Data", "## How good it is", "## Known limits", "## Export parity", "python predict.py"):
        assert words in card
    assert f"Compared with a simple baseline: {run.report['baseline']['text']}" in card  # the core's words
    reqs = (bundle / "requirements.txt").read_text()
    assert "onnxruntime>=1.18,<" in reqs and "numpy>=1.24,<" in reqs and "torch" not in reqs
    assert "==" not in reqs  # ranges that install on the oldest supported Python, not exact pins
    assert (bundle / "predict.py").stat().st_mode & 0o044 == 0o044  # readable by others, as any file

    assert main(["predict", str(run.path), *map(str, files), "--json", "--top-k", "99"]) == 0
    want = json.loads(capsys.readouterr().out)
    _same_predictions(_standalone(bundle, "predict_torch.py", files), want, atol=1e-5)
    _same_predictions(_standalone(bundle, "predict.py", files), want, atol=2e-2 if kind == "image" else 1e-4)
    # konstrukt itself reads the bundle back (PyTorch weights) and predicts the same
    assert main(["predict", str(bundle), *map(str, files), "--json", "--top-k", "99"]) == 0
    _same_predictions(json.loads(capsys.readouterr().out), want, atol=1e-6)


def _other_signal_files(run, folder: Path) -> list[Path]:
    """The same recordings in the other formats konstrukt reads: a long NPY (time × channels, no
    rate: windows vote) and an NPZ at twice the rate (resampled)."""
    from scipy.signal import resample_poly

    from konstrukt.modalities.signal.preprocess import read_signal

    folder.mkdir()
    recs = [read_signal(f, run.config).data for f in test_files(run, 3)]
    np.save(folder / "long.npy", np.concatenate(recs, axis=1).T)  # 3 windows' worth, hop 0.25 s
    np.savez(folder / "fast.npz", data=resample_poly(recs[0], 2, 1, axis=1).astype(np.float32), fs=200.0)
    return [folder / "long.npy", folder / "fast.npz"]


def test_signal_exports_standardise_inside_and_run_without_konstrukt(signal_run, tmp_path, capsys):
    run = signal_run
    files = test_files(run) + _other_signal_files(run, tmp_path / "other")
    assert main(["export", str(run.path), "--format", "all", "--out", str(tmp_path / "b")]) == 0
    assert "top-1 agreement 100.0%" in capsys.readouterr().out
    bundle = tmp_path / "b"
    cfg = json.loads((bundle / "config.json").read_text())
    pre = cfg["preprocessing"]
    assert (pre["kind"], pre["channels"], pre["sample_rate"], pre["length"]) == ("signal", 3, 100.0, 50)
    assert np.allclose(pre["mean"], run.pre.mean) and np.allclose(pre["std"], run.pre.std)
    assert cfg["architecture"]["backbone"]["options"]["in_channels"] == 3
    results = cfg["parity"]["results"]
    assert results["onnx fp32"]["top1_agreement"] == 1.0 and results["onnx fp32"]["max_abs_logit_diff"] <= 1e-3
    assert results["onnx int8"]["top1_agreement"] >= 0.97 and results["onnx int8"]["method"] == "dynamic"
    import onnx
    from safetensors.numpy import load_file

    graph = onnx.load(str(bundle / "model.onnx")).graph
    onnx.checker.check_model(str(bundle / "model.onnx"))
    assert {"Sub", "Div"} <= {n.op_type for n in graph.node}  # standardisation inside the graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param
    saved = load_file(str(bundle / "model.safetensors"))  # mean/std as saved tensors
    assert np.allclose(saved["backbone.mean"].ravel(), run.pre.mean)
    assert "standardisation" in (bundle / "README.md").read_text()
    assert "scipy>=" in (bundle / "requirements.txt").read_text()

    assert main(["predict", str(run.path), *map(str, files), "--json", "--top-k", "99"]) == 0
    want = json.loads(capsys.readouterr().out)
    _same_predictions(_standalone(bundle, "predict_torch.py", files), want, atol=1e-5)
    _same_predictions(_standalone(bundle, "predict.py", files), want, atol=1e-4)
    assert main(["predict", str(bundle), *map(str, files), "--json", "--top-k", "99"]) == 0
    _same_predictions(json.loads(capsys.readouterr().out), want, atol=1e-6)
    konstrukt.export(run, tmp_path / "o.zip", format="onnx")  # ONNX only: konstrukt feeds raw windows
    assert np.allclose(konstrukt.load_run(tmp_path / "o.zip").predict_proba(files),
                       run.predict_proba(files), atol=1e-4)


def test_onnx_zip_bundle_loads_and_predicts_with_konstrukt(sound_run, tmp_path):
    cfg = konstrukt.export(sound_run, tmp_path / "s.zip", format="onnx")
    assert cfg["files"]["onnx"] == "model.onnx" and Path(cfg["path"]).is_file()
    names = set(zipfile.ZipFile(tmp_path / "s.zip").namelist())  # in one top folder: unzipping spills nothing
    assert "s/model.safetensors" not in names and {"s/predict.py", "s/model.onnx", "s/config.json"} <= names
    assert all(n.startswith("s/") for n in names)
    files = test_files(sound_run)
    bundle = konstrukt.load_run(tmp_path / "s.zip")
    assert np.allclose(bundle.predict_proba(files), sound_run.predict_proba(files), atol=1e-4)


def test_int8_only_bundle_is_smaller_and_agrees(image_run, tmp_path):
    cfg = konstrukt.export(image_run.path, tmp_path / "q", format="onnx-int8")
    assert sorted(p.name for p in (tmp_path / "q").glob("*.onnx")) == ["model.int8.onnx"]
    assert cfg["parity"]["int8_size_ratio"] > 1.5
    out = _standalone(tmp_path / "q", "predict.py", test_files(image_run, 3))
    assert [o["label"] for o in out] == [p["label"] for p in image_run.predict(test_files(image_run, 3))]


# --------------------------------------------------------------------------- bad input


def test_export_refuses_bad_requests_with_exit_code_2(image_run, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["export", str(image_run.path), "--out", str(out)]) == 0
    before = sorted(p.name for p in out.iterdir())
    assert main(["export", str(image_run.path), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == before
    assert main(["export", str(image_run.path), "--out", str(out), "--force", "--format", "onnx"]) == 0
    assert "model.onnx" in {p.name for p in out.iterdir()} and "model.safetensors" not in {p.name for p in out.iterdir()}
    with pytest.raises(SystemExit) as exc:
        main(["export", str(image_run.path), "--out", str(tmp_path / "x"), "--format", "tflite"])
    assert exc.value.code == 2
    with pytest.raises(ConfigError, match="unknown export format"):
        konstrukt.export(image_run, tmp_path / "y", format="tflite")
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "z")]) == 2
    assert "not a konstrukt run folder" in capsys.readouterr().err
    assert not (tmp_path / "z").exists() and not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("damage", ["missing_weights", "edited_head", "truncated_weights", "bad_constants"])
def test_damaged_runs_give_a_clear_message(image_run, tmp_path, capsys, damage):
    run = tmp_path / "run"
    shutil.copytree(image_run.path, run)
    if damage == "missing_weights":
        (run / "model.safetensors").unlink()
        expected = "missing model.safetensors"
    elif damage == "edited_head":
        report = json.loads((run / "report.json").read_text())
        report["architecture"]["head"] = [{"units": 7}]
        (run / "report.json").write_text(json.dumps(report))
        expected = "do not match the saved architecture"
    elif damage == "truncated_weights":
        data = (run / "model.safetensors").read_bytes()
        (run / "model.safetensors").write_bytes(data[: len(data) // 2])
        expected = "damaged"
    else:
        (run / "constants.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
        expected = "constants"
    assert main(["export", str(run), "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not (tmp_path / "b").exists() and not list(tmp_path.glob(".*partial*"))


def test_failed_parity_fails_loudly_and_writes_nothing(image_run, tmp_path, monkeypatch):
    from konstrukt.exporting import parity

    monkeypatch.setattr(parity, "FP32_MAX_DIFF", -1.0)  # no export can pass
    with pytest.raises(RunError, match="does not match the PyTorch model"):
        konstrukt.export(image_run, tmp_path / "b.zip", format="all")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(parity, "FP32_MAX_DIFF", 1e-3)
    monkeypatch.setattr(parity, "INT8_MIN_AGREEMENT", 1.01)
    with pytest.raises(RunError, match="INT8 model agrees"):
        konstrukt.export(image_run, tmp_path / "b", format="onnx-int8")
    assert list(tmp_path.iterdir()) == []


def test_parity_falls_back_to_training_files_when_the_test_split_is_gone(image_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(image_run.path, run)
    report = json.loads((run / "report.json").read_text())
    report["data"]["files"]["test"] = [str(tmp_path / "gone.png")]
    (run / "report.json").write_text(json.dumps(report))
    cfg = konstrukt.export(run, tmp_path / "b", format="onnx")
    assert cfg["parity"]["source"].startswith("sample of the training files")


def test_bundle_predict_script_reports_unreadable_files(image_run, tmp_path):
    konstrukt.export(image_run, tmp_path / "b", format="onnx")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    done = _isolated(tmp_path / "b", "predict.py", [bad])
    assert done.returncode == 2 and "bad.png" in done.stderr and "Traceback" not in done.stderr


# --------------------------------------------------------------------------- pretrained architectures


@pytest.mark.parametrize("pipeline", ["mobilenet_v3_small", "resnet18"])
def test_torchvision_backbones_get_a_checked_pytorch_bundle(image_run, tmp_path, pipeline):
    data = image_run.data_root
    run = konstrukt.train(data, task="image", pipeline=pipeline, out=tmp_path / "run",
                          config={**IMAGE_FAST, "pretrained": "none", "num_epochs": 1, "target_size": 0,
                                  "image_size": 32}, verbose=False)
    cfg = konstrukt.export(run, tmp_path / "b", format="bundle")
    assert cfg["parity"]["results"]["pytorch (predict script)"]["max_abs_logit_diff"] <= 1e-5
    source = (tmp_path / "b" / "predict.py").read_text()
    assert "getattr(torchvision.models, arch)" in source and repr(pipeline) not in source  # read from config.json
    files = test_files(run, 2)
    _same_predictions(_standalone(tmp_path / "b", "predict.py", files), run.predict(files), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["panns_cnn14_mlp", "resnet18_melspec", "ast_finetune", "wav2vec2_linear"])
def test_pretrained_audio_architectures_export_to_onnx(sound_run, tmp_path, tiny_audio, pipeline):
    data = sound_run.data_root
    fmt = "all" if pipeline == "resnet18_melspec" else "onnx"
    # INT8 top-1 agreement only means something for a model that has learned: after one epoch
    # (inside the recipe's warm-up) the logits of the three classes are tied to ~0.01 and any
    # quantisation noise flips the argmax. The INT8 case trains until its classes stand apart.
    epochs = 20 if fmt == "all" else 1
    run = konstrukt.train(data, task="sound", pipeline=pipeline, out=tmp_path / "run",
                          config={**SOUND_FAST, "num_epochs": epochs, "pretrained": "none", "target_size": 0},
                          verbose=False)
    # The saved architecture is the tiny one, whatever the registry says later.
    assert run.report["architecture"]["backbone"]["config_overrides"]
    if fmt == "all":  # INT8 parity is meaningful: every held-out file has a clear top-1
        proba = np.sort(run.predict_proba(test_files(run, 3)), axis=1)
        print("top-1 margins", proba[:, -1] - proba[:, -2])
        assert (proba[:, -1] - proba[:, -2] > 0.05).all(), proba
    cfg = konstrukt.export(run, tmp_path / "b", format=fmt)
    assert cfg["parity"]["results"]["onnx fp32"]["top1_agreement"] == 1.0
    files = test_files(run, 3)
    want = run.predict(files)
    _same_predictions(_standalone(tmp_path / "b", "predict.py", files), want, atol=1e-3)
    if fmt == "onnx":  # and the PyTorch bundle: the architecture written out (CNN14) or built by transformers
        cfg = konstrukt.export(run, tmp_path / "t", format="bundle")
        assert cfg["parity"]["results"]["pytorch (predict script)"]["max_abs_logit_diff"] <= 1e-4
        reqs = (tmp_path / "t" / "requirements.txt").read_text()
        assert ("transformers>=" in reqs) == (pipeline != "panns_cnn14_mlp")
        _same_predictions(_standalone(tmp_path / "t", "predict.py", files), want, atol=1e-4)


def test_exported_log_mel_front_end_equals_torch_stft():
    """The export's DFT-convolution STFT gives the same log-mel as torch.stft (and is undone after)."""
    import torch

    from konstrukt.modalities.audio.export import dft_frontend
    from konstrukt.models.portable.audio_nets import LogMel

    torch.manual_seed(0)
    mel = LogMel(16000, 512, 400, 320, 64)
    for length in (16000, 300):  # a long wave, and one shorter than n_fft (padded first)
        wave = torch.randn(3, length) * torch.tensor([[1.0], [1e-2], [1e-4]])  # loud to quiet
        want = mel(wave)
        with dft_frontend(mel):
            got = mel(wave)
        assert got.shape == want.shape and (got - want).abs().max() < 1e-4
    assert "dft_basis" not in vars(mel) and mel(wave).shape == want.shape  # torch.stft again


@pytest.mark.slow
@pytest.mark.parametrize("pipeline", ["rescnn", "rescnn_gru", "rescnn_transformer"])
def test_other_signal_pipelines_export_and_run_without_konstrukt(signal_run, tmp_path, pipeline):
    data = signal_run.data_root
    run = konstrukt.train(data, task="signal", pipeline=pipeline, out=tmp_path / "run",
                          config={**SIGNAL_FAST, "num_epochs": 4}, verbose=False)
    cfg = konstrukt.export(run, tmp_path / "b", format="all")
    assert cfg["parity"]["results"]["onnx fp32"]["max_abs_logit_diff"] <= 1e-3
    files = test_files(run, 3)
    want = run.predict(files)
    _same_predictions(_standalone(tmp_path / "b", "predict.py", files), want, atol=1e-4)
    _same_predictions(_standalone(tmp_path / "b", "predict_torch.py", files), want, atol=1e-5)


@pytest.mark.parametrize("agreements, kept", [((0.5,), "ends"), ((0.98, 0.975, 0.97), "all")])
def test_int8_below_the_target_agreement_keeps_more_layers_in_float(image_run, tmp_path, monkeypatch,
                                                                      agreements, kept):
    from konstrukt.exporting import onnx as konnx, parity

    real, calls = parity.compare, []

    def compare(reference, other):  # the INT8 attempts (2nd comparison on) agree as told
        calls.append(1)
        result = real(reference, other)
        n = len(calls) - 2
        return {**result, "top1_agreement": agreements[n]} if 0 <= n < len(agreements) else result

    monkeypatch.setattr(parity, "compare", compare)
    cfg = konstrukt.export(image_run, tmp_path / "q", format="onnx-int8")
    int8 = cfg["parity"]["results"]["onnx int8"]
    assert int8["attempts"][0] == {**int8["attempts"][0], "method": "static", "top1_agreement": agreements[0]}
    assert int8["method"] == konnx.STATIC_LEVEL_NAMES[kept]
    assert "tried first: static (" in (tmp_path / "q" / "README.md").read_text()  # the card says so
    if kept == "all":  # none reached 99 %: the closest attempt (the first, smallest file) is kept
        assert len(int8["attempts"]) == 3 and int8["top1_agreement"] == 0.98
        assert (tmp_path / "q" / "model.int8.onnx").stat().st_size == int8["attempts"][0]["bytes"]


def test_export_to_an_existing_out_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    # the run is not even read: the clash with --out is found first, in well under a second
    assert main(["export", str(tmp_path / "no-run"), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--force" in err and "not a konstrukt run" not in err


def test_all_writes_what_passed_and_names_a_refused_int8(image_run, tmp_path, monkeypatch, capsys):
    from konstrukt.exporting import parity

    monkeypatch.setattr(parity, "INT8_MIN_AGREEMENT", 1.01)  # no INT8 model can pass
    assert main(["export", str(image_run.path), "--out", str(tmp_path / "b"), "--format", "all"]) == 0
    out = capsys.readouterr().out
    assert "not written: onnx-int8 (the INT8 model agrees" in out
    files = {p.name for p in (tmp_path / "b").iterdir()}
    assert {"model.onnx", "model.safetensors", "predict.py", "predict_torch.py"} <= files
    assert "model.int8.onnx" not in files
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    assert "onnx_int8" not in cfg["files"] and "agrees" in cfg["refused"]["onnx-int8"]
    assert "No INT8 model" in (tmp_path / "b" / "README.md").read_text()
    with pytest.raises(RunError, match="INT8 model agrees"):  # asked for INT8 alone: still refused
        konstrukt.export(image_run, tmp_path / "q", format="onnx-int8")
