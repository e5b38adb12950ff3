"""Export of a sequence run: ONNX (fp32, INT8 where the decoded texts stay the same), a PyTorch
bundle, and a stand-alone ``predict.py`` that decodes as konstrukt does.

:func:`konstrukt.exporting.writer.export` hands a :class:`SequenceRun` over to :func:`export_sequence`
(staging folder, zip and ``--force`` stay the exporter's). The graph takes one whole recording as
the modality's reader gives it — a (B, C, T) signal or waveform, the time axis dynamic — and runs
the front end inside (signals: the per-channel standardisation; audio: the log-mel, its STFT as a
DFT convolution like the audio classifiers'); it gives (B, frames, tokens + 1) log-probabilities.
``predict.py`` reads the file, runs the graph and decodes with ``ctc.py`` copied verbatim.

Parity is on decoded text: every written predict script is run in a child process on held-out
recordings, greedy and with a beam, and must print exactly the texts :meth:`SequenceRun.predict`
gives; an INT8 model whose texts differ is refused with the files that differ.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError, RunError
from .export_card import sequence_card
from .export_script import render
from .models import model_options

MAX_FILES = 16  # beam search in Python: a few seconds per file on long recordings
CHECK_BEAM = 4  # the beam width parity is also checked with (besides greedy and the run's own)
TIMEOUT_S = 600.0
ONNX_FP32, ONNX_INT8, WEIGHTS = "model.onnx", "model.int8.onnx", "model.safetensors"
FORMATS = ("onnx", "onnx-int8", "bundle", "all")  # no web page for sequence runs (yet)


def check_format(format: str) -> None:
    """A ConfigError naming the formats sequence runs export to, unless ``format`` is one."""
    if format not in FORMATS:
        what = "no web page for sequence runs yet" if format == "web" else f"no {format!r} export of sequence runs"
        raise ConfigError(what, [f"Fix: choose {', '.join(FORMATS[:-1])} or {FORMATS[-1]}"])


def _modality(run) -> str:
    from ..tasks import TASKS

    return TASKS.get(run.settings.task).modality


def held_out(run, samples=None, limit: int = MAX_FILES) -> tuple[list[Path], str]:
    """(recordings, where they come from): ``samples`` (a folder: every file the run's reader reads,
    or one file), the run's test split, else a seeded sample of its training recordings."""
    if samples is not None:
        root = Path(samples)
        cands = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        files = []
        for p in cands:
            try:
                run.hooks.read(p, run.rate)
            except (DataError, OSError, ValueError):
                continue  # the labels CSV, notes…: not recordings
            files.append(p)
        if not files:
            raise RunError(f"{root.name}: no recording the run can read", ["Fix: --samples a folder of recordings"])
        return files[:limit], f"given samples ({root.name})"
    split = run.report.get("data_files") or {}
    test = [Path(f) for f in split.get("test", []) if Path(f).is_file()]
    if test:
        return test[:limit], "test split"
    pool = [Path(f) for k in ("train", "val") for f in split.get(k, []) if Path(f).is_file()]
    if pool:
        random.Random(0).shuffle(pool)
        return pool[:limit], "sample of the training recordings (the test split is gone)"
    raise RunError("no held-out recordings of this run can be found to check the export's parity",
                   ["Fix: pass --samples FOLDER (recordings of the task)."])


def _preprocessing(run, modality: str) -> dict:
    """What predict.py's file reader needs (the classification exporter's reader part reads it)."""
    rate, channels = run.rate, int(run.report["channels"])
    pre = {"sample_rate": rate, "channels": channels, "whole_recording": True,
           "frontend": type(run.model.frontend).__name__, "frames_per_second": float(run.model.frontend.fps)}
    pre.update(READER_SETTINGS.get(modality, lambda r: {})(rate))
    return pre


# modality -> the settings its reader part (exporting/template_inputs.py) reads from config.json.
# Signals: auto-detected layout and time column, files without a rate are at the run's rate;
# `length`, `window` … are the classifiers' fixed windows, unused: a sequence model reads whole files
READER_SETTINGS = {"signal": lambda rate: {"length": 0, "signal": {
    "time_column": "auto", "layout": "auto", "sample_rate": rate, "standardize": False,
    "window": 0, "hop": 0, "pad": "zeros", "crop": "start"}}}


def script_texts(folder: Path, script: str, files: list[Path], beam: int, model: str | None = None) -> list[str]:
    """The texts ``folder/script`` prints for ``files`` (``--json``), run in a child process."""
    cmd = [sys.executable, script, *[str(f.resolve()) for f in files], "--json", "--beam", str(beam)]
    cmd += ["--model", model] if model else []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=TIMEOUT_S,
                              env={**env, "PYTHONDONTWRITEBYTECODE": "1"})
    except subprocess.TimeoutExpired:
        raise RunError(f"the generated {script} did not finish its parity check in {TIMEOUT_S:.0f} s",
                       ["Nothing was written. Fix: export --format onnx, and report this model."]) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RunError(f"the generated {script} failed its parity check: {last}",
                       ["Nothing was written. Fix: report this model to the konstrukt developers."])
    return [r["text"] for r in json.loads(done.stdout)]


def requirements_text(dists: list[str], requirement) -> str:
    """requirements.txt: compatible ranges, and the versions this export was checked with."""
    from importlib import metadata

    def version(d):
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            return None

    checked = ", ".join(f"{d} {version(d)}" for d in dists if version(d))
    return f"# checked with {checked}\n" + "".join(f"{requirement(d)}\n" for d in dists)


def compare_texts(reference: list[str], got: list[str], files: list[Path]) -> dict:
    same = [a == b for a, b in zip(reference, got)]
    return {"n": len(reference), "identical": int(sum(same)), "all_identical": all(same) and len(got) == len(reference),
            "differ": [{"file": f.name, "konstrukt": a, "export": b}
                       for f, a, b, s in zip(files, reference, got, same) if not s][:5]}


def check_texts(what: str, result: dict) -> None:
    if not result["all_identical"]:
        d = result["differ"][0] if result["differ"] else {}
        raise RunError(f"{what} decodes {result['n'] - result['identical']} of {result['n']} held-out recordings "
                       f"to other text than konstrukt (e.g. {d.get('file')}: {d.get('export')!r} for "
                       f"{d.get('konstrukt')!r})", ["Nothing was written. Fix: report this model."])


def export_graph(model, example: np.ndarray, path: Path, spec) -> None:
    """ONNX with dynamic batch and time (TorchScript exporter: the recurrent layers become ONNX
    LSTM/GRU nodes over any length; torch.export would fix the length). The modality's trace
    context and graph edits apply (the audio wing's log-mel as a DFT convolution)."""
    import onnx

    from ..exporting.onnx import INPUT, OPSET, OUTPUT

    module = model.cpu().eval()
    trace = spec.trace(module) if spec.trace else contextlib.nullcontext()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), trace:
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.from_numpy(example)[None],), str(path), input_names=[INPUT],
                              output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch", 2: "time"},
                                                                   OUTPUT: {0: "batch", 1: "frames"}},
                              dynamo=False, opset_version=OPSET)
    except Exception as exc:  # the exporter raises many types; the user needs the gist
        raise RunError(f"ONNX export of the sequence model failed: {type(exc).__name__}: "
                       f"{str(exc).splitlines()[0][:300]}", ["Fix: export --format bundle (PyTorch) instead."]) from None
    graph = onnx.load(str(path))
    if spec.finish:
        spec.finish(graph)
    onnx.save(graph, str(path))
    onnx.checker.check_model(str(path), full_check=True)
    _check_other_length(module, example, path)


def _check_other_length(model, example: np.ndarray, path: Path) -> None:
    """The graph must take another length too: some layers (the transformer variants' attention)
    are recorded by the TorchScript exporter at the example's length only."""
    from ..exporting.onnx import INPUT, OUTPUT, session

    n = example.shape[1]
    longer = np.concatenate([example, example[:, : n // 2 + 1]], axis=1)[None]
    try:
        got = session(path).run([OUTPUT], {INPUT: longer})[0]
        with torch.inference_mode():
            want = model(torch.from_numpy(longer)).float().numpy()
        ok = got.shape == want.shape and float(np.abs(got - want).max()) <= 1e-3
    except Exception:  # onnxruntime raises its own types on a shape it cannot take
        ok = False
    if not ok:
        raise RunError("the ONNX graph of this sequence model does not take recordings of other lengths "
                       "(the transformer variants' attention is recorded at one length)",
                       ["Nothing was written. Fix: --format bundle (PyTorch): it decodes any length."])


def calibration(run, limit: int = 32) -> list[np.ndarray]:
    """Training recordings for static INT8, cut to the shortest one's length (batches need one length)."""
    files = [Path(f) for f in (run.report.get("data_files") or {}).get("train", []) if Path(f).is_file()]
    random.Random(1).shuffle(files)
    arrays = [run.hooks.read(f, run.rate)[0] for f in files[:limit]]
    n = min((a.shape[1] for a in arrays), default=0)
    return [np.ascontiguousarray(a[:, :n]) for a in arrays]


def export_sequence(run, folder: Path, format: str, samples, say, requirement) -> dict:
    """Write ``format`` of a sequence run into ``folder``; the bundle's config.json dict.

    ``requirement``: dist → its requirements.txt line (the exporter's compatible ranges).
    """
    from ..exporting.onnx import int8_policy, onnx_input
    from ..runtime import library_versions
    from ..tasks import MODALITIES

    check_format(format)
    modality = _modality(run)
    readers = list(MODALITIES.get(modality).export.reader_dists)
    want_torch, want_onnx = format in ("bundle", "all"), format in ("onnx", "onnx-int8", "all")
    want_int8 = format in ("onnx-int8", "all")
    files, source = held_out(run, samples)
    beams = sorted({1, CHECK_BEAM, run.settings.beam})
    say(f"checking parity of decoded text on {len(files)} held-out recordings (beam {', '.join(map(str, beams))})")
    reference = {b: [p["text"] for p in run.predict(files, beam=b)] for b in beams}
    names: dict[str, str] = {}
    record: dict = {"samples": len(files), "source": source, "beams": beams, "results": {}, "seconds": {}}
    notes: list[str] = []
    versions = {**run.report.get("versions", {}), "exported_with": library_versions()}
    cfg = {"format": "konstrukt-bundle/1", "kind": "sequence", "task": run.settings.task, "modality": modality,
           "alphabet": run.alphabet.state(), "decoding": {"beam": run.settings.beam, "blank": 0},
           "preprocessing": _preprocessing(run, modality),
           "model": {**model_options(run.settings, run.model.frontend), "channels": int(run.report["channels"]),
                     "sample_rate": run.rate, "vocab": len(run.alphabet)},
           "pipeline": {"name": run.report["pipeline"]},
           "metrics": {k: run.report.get(k) for k in ("test", "val", "cv")},
           "training": {k: run.report.get(k) for k in ("examples", "split_sizes", "best_epoch", "train_seconds")},
           "train_config": run.settings.model_dump(mode="json"), "versions": versions,
           "files": names, "parity": record, "notes": notes}
    version = versions["exported_with"]["konstrukt"]

    def check(what: str, script: str, model: str | None = None) -> None:
        t0 = time.perf_counter()
        for b in beams:
            key = f"{what} ({'greedy' if b == 1 else f'beam {b}'})"
            record["results"][key] = result = compare_texts(reference[b], script_texts(folder, script, files, b, model), files)
            check_texts(f"the {what}", result)
        record["seconds"][what] = round(time.perf_counter() - t0, 2)

    def write_config() -> None:
        (folder / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")

    write_config()  # the scripts read it
    if want_torch:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
        save_file(state, str(folder / WEIGHTS), metadata={"format": "konstrukt-bundle"})
        script = "predict.py" if format == "bundle" else "predict_torch.py"
        needs = ["torch", "safetensors", "numpy", *readers]
        (folder / script).write_text(render(version=version, needs=needs, modality=modality, runtime="torch",
                                            extra_modules=getattr(run.model.frontend, "portable", ())),
                                     encoding="utf-8")
        names.update(torch_weights=WEIGHTS, torch_predict=script)
        say(f"checking {script}")
        check(f"PyTorch bundle ({script})", script)
        req = "requirements.txt" if format == "bundle" else "requirements-torch.txt"
        (folder / req).write_text(requirements_text(needs, requirement), encoding="utf-8")
        names["torch_requirements" if format == "all" else "requirements"] = req
    if want_onnx:
        _write_onnx(run, folder, format, modality, files, check, names, record, cfg, notes, say,
                    onnx_input(modality, "sequence"), int8_policy(modality, "sequence") if want_int8 else None)
        needs = ["onnxruntime", "numpy", *readers]
        onnx_files = [f for f in (ONNX_FP32, ONNX_INT8) if f in names.values()]
        (folder / "predict.py").write_text(render(version=version, needs=needs, modality=modality, runtime="onnx",
                                                  model_file=onnx_files[0], onnx_files=onnx_files), encoding="utf-8")
        (folder / "requirements.txt").write_text(requirements_text(needs, requirement), encoding="utf-8")
        names.update(predict="predict.py", requirements="requirements.txt")
    names.update(config="config.json", card="README.md")
    _write_notices(run, folder, cfg, names)
    write_config()
    (folder / "README.md").write_text(sequence_card(cfg), encoding="utf-8")
    return cfg


def _write_notices(run, folder: Path, cfg: dict, names: dict) -> None:
    """A front end on pretrained weights (its ``backbone``): NOTICE.md and the licence text, as
    classification bundles carry them (:mod:`konstrukt.exporting.notices`)."""
    from ..exporting.notices import write_notices

    backbone = getattr(run.model.frontend, "backbone", None)
    cfg["weights"] = write_notices(folder, backbone, None) if backbone else None
    if cfg["weights"]:
        names.update(zip(("notice", "license"), cfg["weights"]["files"]))


def _write_onnx(run, folder, format, modality, files, check, names, record, cfg, notes, say, spec, policy) -> None:
    """model.onnx (checked), then model.int8.onnx when asked and its decoded texts are the same."""
    from ..exporting.onnx import STATIC_LEVELS, quantize
    from .export_script import render as render_script

    fp32 = folder / (ONNX_FP32 if format != "onnx-int8" else ".fp32.onnx")
    say("exporting ONNX (fp32, dynamic time axis)")
    export_graph(run.model, run.hooks.read(files[0], run.rate)[0], fp32, spec)
    notes.extend(spec.notes)
    record["onnx_fp32_bytes"] = fp32.stat().st_size
    version = cfg["versions"]["exported_with"]["konstrukt"]
    check_script = folder / ".check_predict.py"  # a predict.py that may run either file, removed after

    def write_check(onnx_files):
        check_script.write_text(render_script(version=version, needs=[], modality=modality, runtime="onnx",
                                              model_file=onnx_files[0], onnx_files=onnx_files), encoding="utf-8")

    try:
        write_check([fp32.name])
        check("ONNX fp32", check_script.name, fp32.name)
        if format != "onnx-int8":
            names["onnx"] = ONNX_FP32
        if policy is None:
            return
        out = folder / ONNX_INT8
        write_check([fp32.name, out.name])
        refused = None
        for level in STATIC_LEVELS if not policy.dynamic else ("all",):
            method = quantize(fp32, out, policy, calibration(run), level=level)
            try:
                check("ONNX INT8", check_script.name, out.name)
                record["int8_method"], refused = method, None
                break
            except RunError as exc:
                refused = exc.message
                record.setdefault("int8_attempts", []).append({"method": method, "refused": refused})
                say(f"INT8 ({method}): {refused}")
        if refused is None:
            names["onnx_int8"] = ONNX_INT8
            record["onnx_int8_bytes"] = out.stat().st_size
            record["int8_size_ratio"] = round(record["onnx_fp32_bytes"] / record["onnx_int8_bytes"], 2)
        else:
            out.unlink(missing_ok=True)
            if format == "onnx-int8":
                raise RunError(f"no INT8 model: {refused}", ["Nothing was written. Fix: use --format onnx (fp32)."])
            cfg["refused"] = {"onnx-int8": refused}
            notes.append(f"No INT8 model: {refused}; use the fp32 ONNX model.")
    finally:
        check_script.unlink(missing_ok=True)
        if format == "onnx-int8":
            fp32.unlink(missing_ok=True)


def summary_lines(cfg: dict) -> list[str]:
    """What ``konstrukt export`` prints for a sequence bundle."""
    par = cfg["parity"]
    lines = [f"exported {cfg['pipeline']['name']} ({len(cfg['alphabet']['tokens'])} tokens) to {cfg['path']}",
             f"parity of decoded text on {par['samples']} held-out recordings ({par['source']}):"]
    lines += [f"  {k:40} {r['identical']}/{r['n']} identical" for k, r in par["results"].items()]
    if "int8_size_ratio" in par:
        lines.append(f"  INT8 file is {par['int8_size_ratio']:.1f}x smaller than fp32")
    lines += [f"not written: {fmt} ({why})" for fmt, why in cfg.get("refused", {}).items()]
    return lines + [f"files: {', '.join(sorted(cfg['files'].values()))}"]
