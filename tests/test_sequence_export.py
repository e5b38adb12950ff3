"""Export of sequence runs: ONNX / INT8 / PyTorch bundles whose predict scripts — run without
konstrukt — decode the held-out recordings to exactly the texts konstrukt gives."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import konstrukt
from konstrukt.errors import RunError
from konstrukt.runtime import torch_threads

from sequence_data import TOY, train_toy, write_sequences, write_tone_clips

TOY = {**TOY, "frontend": "default"}  # INT8 parity below needs it (minirocket's thresholds do not quantise)

# runs a bundle's script as __main__, then fails when anything of konstrukt was imported
WRAPPER = ("import runpy, sys\nsys.argv = sys.argv[1:]\ncode = 0\ntry:\n"
           "    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n    code = e.code or 0\n"
           "bad = [m for m in sys.modules if m.split('.')[0] == 'konstrukt']\n"
           "assert not bad, f'imported {bad}'\nsys.exit(code)\n")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A toy signal run and its `all` export (the test split's recordings are the parity files)."""
    root = tmp_path_factory.mktemp("seqexp")
    run = train_toy(root, TOY)
    with torch_threads(1):
        cfg = konstrukt.export(root / "run", root / "bundle", format="all")
    files = [Path(f) for f in run.report["data_files"]["test"]]
    return run, cfg, root / "bundle", files


def run_script(folder: Path, script: str, files, *args) -> list[dict]:
    """The script's --json output, run like a user would: cwd the bundle, no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", WRAPPER, script, *map(str, files), "--json", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_onnx_predict_gives_konstrukts_texts_without_konstrukt(exported):
    run, cfg, folder, files = exported
    assert len(files) >= 5
    got = run_script(folder, "predict.py", files)
    want = run.predict(files, beam=1)
    assert [g["text"] for g in got] == [w["text"] for w in want]
    assert [g["file"] for g in got] == [str(f) for f in files]
    assert all(abs(g["confidence"] - w["confidence"]) < 1e-3 for g, w in zip(got, want))
    assert len({g["text"] for g in got}) > 1  # real decoding: different recordings, different texts
    par = cfg["parity"]
    assert par["source"] == "test split" and par["samples"] == len(files)
    assert par["results"]["ONNX fp32 (greedy)"]["identical"] == len(files)
    # the config holds the alphabet, the token mode and the preprocessing; the script none of them
    assert cfg["alphabet"] == {"tokens": list("abcd"), "mode": "chars"}
    assert cfg["preprocessing"]["channels"] == 2 and cfg["preprocessing"]["sample_rate"] == 50.0
    assert "abcd" not in (folder / "predict.py").read_text() and '"a"' not in (folder / "predict.py").read_text()


def test_beam_option_decodes_like_konstrukts_beam(exported):
    run, cfg, folder, files = exported
    got = run_script(folder, "predict.py", files, "--beam", "6")
    assert [g["text"] for g in got] == [w["text"] for w in run.predict(files, beam=6)]
    assert cfg["parity"]["results"]["ONNX fp32 (beam 4)"]["all_identical"]


def test_ctc_module_is_carried_verbatim(exported):
    _, _, folder, _ = exported
    ctc = (Path(konstrukt.__file__).parent / "sequences" / "ctc.py").read_text(encoding="utf-8")
    body = ctc.replace("from __future__ import annotations\n", "")
    assert body in (folder / "predict.py").read_text(encoding="utf-8")


def test_int8_is_written_when_texts_agree_and_the_torch_script_matches(exported):
    run, cfg, folder, files = exported
    assert (folder / "model.int8.onnx").is_file() and cfg["files"]["onnx_int8"] == "model.int8.onnx"
    assert cfg["parity"]["results"]["ONNX INT8 (greedy)"]["all_identical"]
    got = run_script(folder, "predict.py", files, "--model", "model.int8.onnx")
    assert [g["text"] for g in got] == [w["text"] for w in run.predict(files)]
    torch_got = run_script(folder, "predict_torch.py", files[:3])
    assert [g["text"] for g in torch_got] == [w["text"] for w in run.predict(files[:3])]
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "CER" in card and "identical texts" in card and "--beam" in card


def _broken_quantize(fp32, out, policy, calibration, level="all"):
    """An 'INT8' model that decodes differently: the fp32 graph with its head's blank bias raised."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(fp32))
    head = [i for i in model.graph.initializer if i.name.endswith("head.bias")][0]
    bias = numpy_helper.to_array(head).copy()
    bias[0] += 50.0  # blank everywhere: empty texts
    head.CopyFrom(numpy_helper.from_array(bias, head.name))
    onnx.save(model, str(out))
    return "static"


def test_int8_is_refused_with_the_reason_when_texts_differ(exported, tmp_path, monkeypatch):
    import konstrukt.exporting.onnx as onnx_mod

    run, _, _, _ = exported
    monkeypatch.setattr(onnx_mod, "quantize", _broken_quantize)
    cfg = konstrukt.export(run, tmp_path / "all", format="all")
    assert "onnx-int8" in cfg["refused"] and "other text than konstrukt" in cfg["refused"]["onnx-int8"]
    assert not (tmp_path / "all" / "model.int8.onnx").exists() and (tmp_path / "all" / "model.onnx").is_file()
    assert "Not written: onnx-int8" in (tmp_path / "all" / "README.md").read_text(encoding="utf-8")
    with pytest.raises(RunError, match="no INT8 model"):
        konstrukt.export(run, tmp_path / "int8", format="onnx-int8")
    assert not (tmp_path / "int8").exists() and not list(tmp_path.glob(".int8*"))


def test_bundle_format_is_a_pytorch_predict_script(exported, tmp_path):
    run, _, _, files = exported
    cfg = konstrukt.export(run.path, tmp_path / "b.zip", format="bundle")
    import zipfile

    with zipfile.ZipFile(tmp_path / "b.zip") as zf:
        zf.extractall(tmp_path / "x")
    folder = tmp_path / "x" / "b"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors",
                                                      "predict.py", "requirements.txt"]
    assert "torch" in (folder / "requirements.txt").read_text() and cfg["files"]["torch_predict"] == "predict.py"
    got = run_script(folder, "predict.py", files[:4], "--beam", "3")
    assert [g["text"] for g in got] == [w["text"] for w in run.predict(files[:4], beam=3)]


def test_web_format_is_refused_for_sequence_runs(exported, tmp_path):
    from konstrukt.errors import ConfigError

    run, _, _, _ = exported
    with pytest.raises(ConfigError, match="no web page for sequence runs"):
        konstrukt.export(run, tmp_path / "w", format="web")


def test_audio_sequence_onnx_runs_the_log_mel_in_the_graph(tmp_path):
    """A sound run: the log-mel (DFT convolution) is inside the graph; predict.py only reads the WAV."""
    pytest.importorskip("soundfile")
    from konstrukt.sequences.run import train_sequences

    write_tone_clips(tmp_path)
    with torch_threads(1):
        run = train_sequences(tmp_path / "labels.csv", out=tmp_path / "run", verbose=False,
                              config={"num_epochs": 2, "cv": 0, "widths": [8], "hidden_size": 8, "pipeline": "rescnn",
                                      "frontend": "mel"})
        cfg = konstrukt.export(run, tmp_path / "onnx", format="onnx", samples=tmp_path)
    assert cfg["parity"]["samples"] == 9 and cfg["parity"]["source"].startswith("given samples")
    assert any("log-mel front end runs inside" in n for n in cfg["notes"])
    files = sorted(tmp_path.glob("c*.wav"))
    got = run_script(tmp_path / "onnx", "predict.py", files)
    assert [g["text"] for g in got] == [w["text"] for w in run.predict(files)]


def test_cli_export_prints_the_parity_of_decoded_text(exported, tmp_path, capsys):
    from konstrukt.cli import main

    run, _, _, files = exported
    assert main(["export", str(run.path), "--format", "onnx", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "ONNX fp32 (greedy)" in out and f"{len(files)}/{len(files)} identical" in out
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["README.md", "config.json", "model.onnx",
                                                                 "predict.py", "requirements.txt"]


def test_runs_without_their_recordings_ask_for_samples(exported, tmp_path):
    run = exported[0]
    saved = run.report.pop("data_files")
    try:
        with pytest.raises(RunError, match="--samples"):
            konstrukt.export(run, tmp_path / "x", format="onnx")
    finally:
        run.report["data_files"] = saved
    assert not (tmp_path / "x").exists()


def test_transformer_variants_refuse_onnx_and_export_a_pytorch_bundle(tmp_path):
    """The TorchScript exporter records attention at one length: refused, with the bundle as the fix."""
    from konstrukt.sequences.run import train_sequences

    labels = write_sequences(tmp_path / "data", n=16)
    with torch_threads(1):
        run = train_sequences(labels, out=tmp_path / "run", verbose=False, config={
            "num_epochs": 2, "cv": 0, "widths": [8], "hidden_size": 8, "heads": 2, "layers": 1,
            "pipeline": "cnn_transformer"})
        with pytest.raises(RunError, match="other lengths") as err:
            konstrukt.export(run, tmp_path / "o", format="onnx")
        assert any("--format bundle" in p for p in err.value.problems)
        cfg = konstrukt.export(run, tmp_path / "b", format="bundle")
    assert cfg["parity"]["results"]["PyTorch bundle (predict.py) (greedy)"]["all_identical"]
    assert not (tmp_path / "o").exists()


def test_konstrukt_refuses_a_sequence_bundle_as_a_run_and_says_what_to_run(exported, capsys):
    from konstrukt.cli import main

    _, _, folder, files = exported
    assert main(["predict", str(folder), str(files[0])]) == 2
    err = capsys.readouterr().err
    assert "exported sequence bundle" in err and "predict.py" in err
