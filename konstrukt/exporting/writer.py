"""``export``: run → bundle (PyTorch), ONNX fp32, ONNX INT8 or all, checked for parity.

Everything is written into a staging folder beside ``out`` and renamed (or zipped) into place at
the end, so a failed parity check or a crash leaves nothing half-written.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from importlib import metadata
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..errors import ConfigError, RunError
from ..tasks import MODALITIES
from ..trust import trust_notes
from ..verdict import verdict_text
from . import parity
from .bundle import BUNDLE_FORMAT, ONNX_FP32, ONNX_INT8, TORCH_WEIGHTS, input_adapter
from .card import model_card
from .notices import write_code_notice, write_notices
from .script_check import script_logits
from .templates import render, torch_backbone

FORMATS = ("bundle", "onnx", "onnx-int8", "all", "web")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def runtime_dists(runtime: str, modality: str, backbone: str) -> list[str]:
    """What a bundle's predict script imports: its runtime, the backbone's library, the file readers
    (the modality's export hooks name its readers, and what its PyTorch script needs beyond torch)."""
    hooks = MODALITIES.get(modality).export
    if runtime == "torch":
        extra = list(torch_backbone(backbone)[1]) + list(hooks.torch_dists)
        dists = ["torch", *dict.fromkeys(extra), "safetensors"]
    else:
        dists = ["onnxruntime"]
    return [*dists, "numpy", *hooks.reader_dists]


# The oldest releases a bundle's predict script works with that still install on Python 3.10 (the
# oldest Python konstrukt supports): exact pins of this machine's versions (numpy 2.3 needs 3.11)
# made `pip install -r requirements.txt` fail there.
OLDEST = {"torch": "2.2", "torchvision": "0.17", "transformers": "4.40", "safetensors": "0.4",
          "onnxruntime": "1.18", "numpy": "1.24", "pillow": "10.0", "soundfile": "0.12", "soxr": "0.3",
          "scipy": "1.10"}


def requirement(dist: str) -> str:
    """``dist>=oldest,<next major of the checked version``: compatible ranges, not exact pins."""
    checked = _version(dist)
    low = OLDEST.get(dist)
    bounds = [f">={low}"] if low else []
    if checked and checked.split(".")[0].isdigit():
        bounds.append(f"<{int(checked.split('.')[0]) + 1}")
    return dist + ",".join(bounds)


def requirements(runtime: str, modality: str, backbone: str) -> str:
    """requirements.txt: compatible version ranges, and the versions this export was checked with."""
    dists = runtime_dists(runtime, modality, backbone)
    checked = ", ".join(f"{d} {_version(d)}" for d in dists if _version(d))
    torch_note = ("# On a machine without a GPU, install PyTorch's CPU build first (far smaller):\n"
                  "#   pip install torch --index-url https://download.pytorch.org/whl/cpu\n"
                  if runtime == "torch" else "")
    return (f"# checked with {checked}\n{torch_note}" + "".join(f"{requirement(d)}\n" for d in dists))


def _architecture(run) -> dict:
    """The run's saved architecture, or (runs from before it was saved) a description built now."""
    from ..architecture import backbone_options, describe
    from ..config import HeadBlock
    from ..models.backbones import BACKBONES

    arch = run.report.get("architecture")
    if arch:
        if "options" not in arch["backbone"]:  # runs saved before the data-decided sizes were
            spec = BACKBONES.get(arch["backbone"]["name"])
            arch = {**arch, "backbone": {**arch["backbone"], "options": backbone_options(spec, run.pre)}}
        return arch

    return describe(BACKBONES.get(run.report["model"]["backbone"]), run.model.backbone,
                    [HeadBlock(**b) for b in run.report["model"]["head"]], len(run.classes), run.pre)


def _no_torch_bundle(backbone: str) -> str:
    """Why a backbone has no PyTorch bundle, when it says (``extra["torch_bundle"]``)."""
    from ..models.backbones import BACKBONES

    return BACKBONES.get(backbone).extra.get("torch_bundle", "") if backbone in BACKBONES else ""


def _training(run) -> dict:
    c, r = run.config, run.report
    return {"pretrained": c.pretrained, "optimizer": c.optimizer.name, "learning_rate": c.learning_rate,
            "weight_decay": c.weight_decay, "batch_size": c.batch_size, "epochs_run": len(r.get("history") or []),
            "best_epoch": r.get("best_epoch"), "augment": c.augment.enabled, "seed": c.seed,
            "train_seconds": r.get("train_seconds")}


def _prepare_out(out: Path, force: bool) -> tuple[Path, bool]:
    out = Path(out).expanduser()
    as_zip = out.suffix.lower() == ".zip"
    if out.exists() and not force:
        raise RunError(f"{out} already exists", ["Fix: choose another --out, or pass --force to replace it."])
    if out.exists() and as_zip != out.is_file():
        raise RunError(f"{out} exists and is a {'folder' if out.is_dir() else 'file'}",
                       ["Fix: choose another --out."])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot write {out}: {exc.strerror or exc}", ["Fix: choose a folder you can write to."]) from None
    return out, as_zip


def _finish(staging: Path, out: Path, as_zip: bool, top: str | None = None) -> None:
    for path in staging.iterdir():  # the staging folder's private modes must not travel with the files
        path.chmod(0o755 if path.is_dir() else 0o644)
    if as_zip:
        tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.partial")
        import zipfile

        # one top folder (the zip's name): unzipping must not spill the files into the current folder
        top = top or out.stem
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(staging.iterdir()):
                zf.write(p, f"{top}/{p.name}")
        tmp.replace(out)
        return
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    staging.rename(out)


def export(run, out: str | Path, format: str = "bundle", *, force: bool = False,
           samples: str | Path | None = None, say=None, top: str | None = None) -> dict:
    """Export a trained run (object, run folder or bundle) to ``out`` (a folder, or a ``.zip``
    whose files sit in one top folder, ``top`` or the zip's name).

    ``format``: ``bundle`` (PyTorch weights + predict.py), ``onnx``, ``onnx-int8``, ``all`` or
    ``web`` (the ONNX bundle of ``onnx-int8``, fp32 when INT8 agrees too little, plus an offline
    web page: :mod:`.web`).
    Every model written is compared with the PyTorch model on held-out samples (``samples``
    overrides where they come from); a failed check raises RunError and writes nothing, except
    that ``all`` leaves out an INT8 model that agrees too little and writes the rest, naming the
    refused format and why in ``refused``. Returns the bundle's config.json dict.
    """
    from ..inference import Run, load_run
    from ..sequences.runfolder import SequenceRun

    say = say or (lambda msg: None)
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}", [f"choose one of: {', '.join(FORMATS)}"])
    out, as_zip = _prepare_out(Path(out), force)  # before any work: an existing --out fails at once
    run = run if isinstance(run, (Run, SequenceRun)) else load_run(run)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        if isinstance(run, SequenceRun):  # recording → text: konstrukt/sequences/export.py
            from ..sequences.export import export_sequence
            cfg = export_sequence(run, staging, format, samples, say, requirement)
        else:
            cfg = _write(run, staging, format, samples, say)
        _finish(staging, out, as_zip, top)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if as_zip:
        shutil.rmtree(staging, ignore_errors=True)
    cfg["path"] = str(out)
    return cfg


def _quantize_closest(fp32: Path, out: Path, policy, calib, reference, inputs, unpadded: bool,
                      say) -> tuple[dict, str]:
    """Quantise; for static INT8, from the smallest file up (onnx.STATIC_LEVELS) until top-1
    agreement reaches the target, else keep the attempt that agreed most. Returns (parity, method)."""
    from .onnx import STATIC_LEVELS, quantize, run_session, session

    attempts: list[tuple[dict, str, bytes]] = []
    for level in STATIC_LEVELS:
        method = quantize(fp32, out, policy, calib, level=level)
        result = parity.compare(reference, run_session(session(out), inputs, unpadded))
        result["method"] = method
        if result["top1_agreement"] >= parity.INT8_TARGET_AGREEMENT or not method.startswith("static"):
            break
        attempts.append((result, method, out.read_bytes()))
        say(f"INT8 agreement {100 * result['top1_agreement']:.1f} %: quantising again with more layers in float")
    else:  # none reached the target: keep the closest (the first of equals: the smallest file)
        result, method, data = max(attempts, key=lambda a: a[0]["top1_agreement"])
        out.write_bytes(data)
    if attempts:
        result["attempts"] = [{"method": m, "top1_agreement": r["top1_agreement"], "bytes": len(d)}
                              for r, m, d in attempts]
    return result, method


def _write(run, folder: Path, format: str, samples, say) -> dict:
    from ..architecture import constant_buffers
    from ..runtime import library_versions
    from .onnx import export_fp32, int8_policy, onnx_input, run_session, session

    arch = _architecture(run)
    backbone, modality = arch["backbone"]["name"], arch["backbone"]["modality"]
    onnx_in = onnx_input(modality, backbone)
    unpadded = onnx_in.unpadded
    want_torch = format in ("bundle", "all")
    want_onnx = format in ("onnx", "onnx-int8", "all", "web")
    want_int8 = format in ("onnx-int8", "all", "web")
    web = format == "web"  # INT8 where it agrees, else fp32; and the page (exporting/web)
    if web:
        from .web import check_ready
        check_ready(modality)  # no page for the modality, or a damaged runtime: fails before any work
    notes: list[str] = []
    if want_torch and torch_backbone(backbone) is None:
        why = _no_torch_bundle(backbone)  # e.g. YOLO11: the network is Ultralytics' (AGPL-3.0) code
        if format == "bundle":
            raise RunError(f"a PyTorch bundle is not available for backbone {backbone} {why or 'yet'}",
                           ["Fix: use --format onnx (or onnx-int8): it runs with numpy and onnxruntime."])
        want_torch = False
        notes.append(f"No PyTorch predict script for {backbone}{' ' + why if why else ''}: use the ONNX model.")

    files, source = parity.held_out_files(run, samples)
    say(f"checking parity on {len(files)} held-out files")
    inputs = parity.model_inputs(run, files, unpadded)
    reference = parity.torch_logits(run.model.cpu(), inputs, unpadded)
    io = input_adapter(modality, run.pre)  # e.g. signals: the exported model standardises inside
    graph_inputs = io.to_graph(inputs)
    record = {"samples": len(inputs), "source": source, "results": {}, "thresholds": {
        "fp32_max_abs_logit_diff": parity.FP32_MAX_DIFF, "fp32_min_top1_agreement": parity.FP32_MIN_AGREEMENT,
        "int8_min_top1_agreement": parity.INT8_MIN_AGREEMENT}}
    names: dict[str, str] = {}
    timings: dict[str, float] = {}
    cfg = {"format": BUNDLE_FORMAT, "task": run.report["task"], "classes": run.classes,
           "preprocessing": arch["preprocessing"], "architecture": arch,
           "pipeline": {"name": run.report["pipeline"], "strategy": run.report.get("strategy") or run.config.strategy,
                        "backbone": backbone},
           "metrics": {k: run.report.get(k) for k in ("test", "val", "cv")},
           "baseline": verdict_text(run.report.get("baseline")),  # the core's words, as on every face
           "trust": [n["text"] for n in trust_notes(run.report)],
           "selection": (run.report.get("selection") or {}).get("reason"),
           "data": {k: (run.report.get("data") or {}).get(k) for k in ("n", "per_class", "per_split", "fingerprint")},
           "training": _training(run), "train_config": run.config.model_dump(mode="json"),
           "versions": {**run.report.get("versions", {}), "exported_with": library_versions()},
           "files": names, "parity": record, "notes": notes}
    notes.extend(onnx_in.notes)

    def write_config():
        (folder / "config.json").write_text(json.dumps(cfg, indent=2, ensure_ascii=False), encoding="utf-8")

    write_config()
    version = cfg["versions"]["exported_with"]["konstrukt"]
    if want_torch:
        t0 = time.perf_counter()
        state = {k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
        state.update(constant_buffers(run.model))
        state.update(io.extra_state())
        save_file(state, str(folder / TORCH_WEIGHTS), metadata={"format": "konstrukt-bundle"})
        script = "predict.py" if format == "bundle" else "predict_torch.py"
        (folder / script).write_text(render(version=version, runtime="torch", modality=modality,
                                            backbone=backbone, needs=runtime_dists("torch", modality, backbone)),
                                     encoding="utf-8")
        names["torch_weights"], names["torch_predict"] = TORCH_WEIGHTS, script
        got = script_logits(folder, script, graph_inputs, unpadded)  # in a process of its own
        record["results"]["pytorch (predict script)"] = result = parity.compare(reference, got)
        parity.check_fp32(f"the generated {script}", result)
        timings["pytorch"] = time.perf_counter() - t0
    if want_onnx:
        t0 = time.perf_counter()
        fp32 = folder / ONNX_FP32 if format not in ("onnx-int8", "web") else folder / ".fp32.onnx"
        say("exporting ONNX (fp32)")
        export_fp32(io.wrap(run.model.cpu().eval()), backbone, torch.from_numpy(graph_inputs[0])[None], fp32, onnx_in)
        result = parity.compare(reference, run_session(session(fp32), graph_inputs, unpadded))
        record["results"]["onnx fp32"] = result
        parity.check_fp32("the ONNX model", result)
        record["onnx_fp32_bytes"] = fp32.stat().st_size
        if format not in ("onnx-int8", "web"):
            names["onnx"] = ONNX_FP32
        timings["onnx"] = time.perf_counter() - t0
        if want_int8:
            t0 = time.perf_counter()
            say("quantising to INT8")
            policy = int8_policy(modality, backbone)
            calib = ([] if policy.dynamic  # static INT8 calibrates on training samples
                     else io.to_graph(parity.model_inputs(run, parity.calibration_files(run) or files)))
            result, method = _quantize_closest(fp32, folder / ONNX_INT8, policy, calib, reference, graph_inputs,
                                               unpadded, say)
            record["results"]["onnx int8"] = result
            record["onnx_int8_bytes"] = (folder / ONNX_INT8).stat().st_size
            record["int8_size_ratio"] = record["onnx_fp32_bytes"] / record["onnx_int8_bytes"]
            try:
                parity.check_int8(result)
                names["onnx_int8"] = ONNX_INT8
            except RunError as exc:
                if format == "onnx-int8":
                    raise
                if web:  # the page runs the fp32 model instead
                    fp32.replace(folder / ONNX_FP32)
                    names["onnx"] = ONNX_FP32
                # `all`: the formats that passed are still worth having; say which was refused, and why
                (folder / ONNX_INT8).unlink()
                record.pop("onnx_int8_bytes"), record.pop("int8_size_ratio")
                cfg["refused"] = {"onnx-int8": exc.message}
                notes.append(f"No INT8 model: {exc.message}; use the fp32 ONNX model.")
                say(f"INT8 refused: {exc.message}")
            timings["onnx_int8"] = time.perf_counter() - t0
            if format == "onnx-int8" or (web and fp32.exists()):
                fp32.unlink()
        onnx_files = [f for f in (ONNX_FP32, ONNX_INT8) if f in names.values()]
        (folder / "predict.py").write_text(render(
            version=version, runtime="onnx", modality=modality, backbone=backbone,
            model_file=onnx_files[0], onnx_files=onnx_files, unpadded=unpadded,
            needs=runtime_dists("onnx", modality, backbone)), encoding="utf-8")
        names["predict"] = "predict.py"
        if web:
            from .web import ORT_WEB_VERSION, write_page

            say("writing the web page")
            names.update(write_page(folder, modality, onnx_files[0]))
            cfg["web"] = {"model": onnx_files[0], "unpadded": unpadded, "onnxruntime_web": ORT_WEB_VERSION}
        (folder / "requirements.txt").write_text(requirements("onnx", modality, backbone), encoding="utf-8")
        if want_torch:
            (folder / "requirements-torch.txt").write_text(requirements("torch", modality, backbone), encoding="utf-8")
            names["torch_requirements"] = "requirements-torch.txt"
    else:
        (folder / "requirements.txt").write_text(requirements("torch", modality, backbone), encoding="utf-8")
    names["requirements"] = "requirements.txt"
    names["config"], names["card"] = "config.json", "README.md"
    cfg["weights"] = write_notices(folder, backbone, run.config.pretrained)  # source, licence, NOTICE
    if cfg["weights"]:
        names.update(zip(("notice", "license"), cfg["weights"]["files"]))
    cfg["code"] = write_code_notice(folder, backbone)  # e.g. Ultralytics' AGPL-3.0 for a YOLO network
    if cfg["code"] and cfg["code"]["files"] and cfg["code"]["files"][0] not in names.values():
        names["code_license"] = cfg["code"]["files"][0]
    record["seconds"] = {k: round(v, 2) for k, v in timings.items()}
    write_config()
    if web:
        from .web import embed_config

        embed_config(folder)  # the final config.json, for the page
    (folder / "README.md").write_text(model_card(cfg), encoding="utf-8")
    return cfg
