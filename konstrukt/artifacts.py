"""The run directory: written in a staging folder and renamed into place, so it is never half-written.

Contents: ``report.json`` (metrics, history, data, config, versions), ``config.json`` (the exact
TrainConfig, reusable with ``--config``), ``model.safetensors`` (backbone + head), ``constants.safetensors`` (the model's fixed
tensors: normalisation, STFT window, mel filters), ``curves.png``,
``confusion_matrix.png`` and ``summary.md``.

The report names data files relative to the data root (``cat/1.jpg``, never a machine's folders:
a report travels, and the service shows it to people who must not see the server's paths). Where
that root is on this machine is kept beside it in ``data_root.json``, which only this machine
needs (export's parity check reads the held-out files); the service removes it from its runs.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .architecture import CONSTANTS, save_constants
from .errors import RunError
from .runtime import library_versions
from .trust import trust_notes
from .verdict import verdict_text
from .words import agree

REPORT, CONFIG, WEIGHTS, SUMMARY = "report.json", "config.json", "model.safetensors", "summary.md"
PREPROCESSING = "preprocessing.json"  # runs before #22 saved the signal state here too; still read
DATA_ROOT = "data_root.json"  # {"root": absolute folder the report's data files are relative to}


def start_run_dir(out: Path, overwrite: bool) -> Path:
    """Check ``out`` can be written and return a staging folder beside it."""
    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise RunError(f"{out} exists and is not a folder", ["Fix: choose another --out."])
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RunError(f"run folder {out} already exists and is not empty",
                       ["Fix: choose another --out, or pass --overwrite to replace it."])
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise RunError(f"cannot write the run folder {out}: {exc.strerror or exc}",
                       ["Fix: choose a folder you can write to with --out."]) from None


def finish_run_dir(staging: Path, out: Path, overwrite: bool) -> Path:
    out = out.expanduser()
    if out.exists():
        if any(out.iterdir()) and not overwrite:
            raise RunError(f"run folder {out} appeared while training", ["Fix: use another --out."])
        shutil.rmtree(out)
    staging.rename(out)
    return out


def abandon_run_dir(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _data_summary(prepared) -> dict[str, Any]:
    labels = prepared.dataset.labels()
    counts = {split: dict(sorted(Counter(labels[i] for i in idx).items()))
              for split, idx in prepared.splits.items()}
    return {"source": prepared.dataset.name, "n": len(labels),
            "per_class": dict(sorted(Counter(labels).items())), "per_split": counts,
            "presplit": prepared.dataset.presplit, "fingerprint": prepared.dataset.fingerprint(),
            "warnings": prepared.dataset.warnings,
            "files": {split: [prepared.dataset.relative(prepared.dataset.samples[i].path) for i in idx]
                      for split, idx in prepared.splits.items()}}


def baseline(report: dict, tried: set[str] | None = None) -> dict | None:
    """The run's verdict against the simple baseline (:mod:`konstrukt.verdict`), with advice that
    names only recipes that exist for the task on this machine and were not tried already."""
    from .auto import advice
    from .verdict import baseline_verdict

    tried = {report["pipeline"], *(tried or ())}
    return baseline_verdict(report, report.get("reference"), advice=advice(report["task"], tried))


def build_report(prepared, results: dict, selection: dict | None = None) -> dict[str, Any]:
    """The report.json dict: results plus what is needed to rebuild and reproduce the model.

    ``selection``: how ``auto`` chose the pipeline (:mod:`konstrukt.auto`), or None."""
    from .architecture import describe
    from .models.heads import head_blocks

    cfg = prepared.config
    report = {
        "architecture": describe(prepared.backbone_spec, prepared.initial_backbone, head_blocks(cfg.head),
                                 len(prepared.classes), prepared.pre),
        "task": cfg.task,
        "pipeline": prepared.pipeline.name,
        "strategy": cfg.strategy,
        "classes": prepared.classes,
        "model": {
            "backbone": prepared.pipeline.backbone,
            "num_features": prepared.initial_backbone.num_features,
            "head": [b.model_dump() for b in head_blocks(cfg.head)],
            "pretrained": cfg.pretrained,
        },
        "test": results.get("test"),
        "val": results.get("val"),
        "cv": results.get("cv"),
        "reference": results.get("reference"),
        "history": results["history"],
        "best_epoch": results["best_epoch"],
        "stopped_early": results["stopped_early"],
        "epoch_policy": results.get("epoch_policy"),
        # settings chosen from the data (the values are in config), with the reason in words
        "chosen_from_data": {f"{section}.{k}": {"value": v, "why": prepared.pre.reasons.get(f"{section}.{k}")}
                             for section, values in prepared.fitted.items() for k, v in values.items()},
        "train_seconds": round(results["train_seconds"], 3),
        "peak_memory_mb": round(results["peak_memory_mb"], 1),
        "device": str(prepared.device),
        "params_total": results["params_total"],
        "params_trainable": results["params_trainable"],
        "data": _data_summary(prepared),
        "data_health": prepared.health.to_dict() if prepared.health is not None else None,
        "config": cfg.model_dump(mode="json"),
        "seed": cfg.seed,
        "versions": library_versions(*prepared.backbone_spec.packages),
    }
    report["selection"] = selection
    tried = {c["name"] for c in (selection or {}).get("candidates", []) if c["status"] == "scored"}
    report["baseline"] = baseline(report, tried)  # better than the simple peer, in plain words
    return report


def write_run(folder: Path, report: dict, config: dict, model: torch.nn.Module,
              data_root: Path | None = None, pictures=None) -> None:
    """Write every artifact of a run into ``folder`` (``data_root``: where the report's files are;
    ``pictures``: a :class:`~.execution.forked_pictures.PicturesAhead` drawing them already).

    The preprocessing state (what was learned from the data) is saved once, in the report's
    ``architecture`` section."""
    if data_root is not None:
        write_data_root(folder, data_root)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "konstrukt-run"})
    save_constants(model, folder / CONSTANTS)  # normalisation, window, mel filters as tensors
    (folder / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    from .execution.forked_pictures import draw, drawn_from

    what = drawn_from(report, report["classes"])
    if pictures is None or not pictures.move_into(folder, what):
        draw(what, folder)
    (folder / SUMMARY).write_text(summary_markdown(report), encoding="utf-8")


def write_data_root(folder: Path, root: Path | str) -> None:
    """Record where the run's data files are on this machine (beside the report, not in it)."""
    (folder / DATA_ROOT).write_text(json.dumps({"root": str(Path(root).resolve())}), encoding="utf-8")


def read_data_root(folder: Path) -> Path | None:
    """The data root recorded beside a run, or None (a bundle, a copied run, the service's runs)."""
    try:
        return Path(json.loads((folder / DATA_ROOT).read_text(encoding="utf-8"))["root"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def forget_data_root(folder: Path) -> None:
    """Remove the data-root records of a run folder and the runs inside it (a comparison's)."""
    for path in Path(folder).rglob(DATA_ROOT):
        path.unlink(missing_ok=True)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def summary_markdown(report: dict) -> str:
    """A human-readable summary: what was trained, how good it is, and how far to trust it."""
    t, cv, d = report.get("test"), report.get("cv"), report["data"]
    lines = [f"# {report['task']} model — {report['pipeline']} ({report['strategy']})", "",
             f"Classes: {', '.join(report['classes'])}  ",
             f"Examples: {d['n']} ({', '.join(f'{k} {sum(v.values())}' for k, v in d['per_split'].items())})  ",
             f"Training time: {report['train_seconds']:.1f} s for the final model"
             + (f" ({report['wall_seconds']:.0f} s for the whole run)" if report.get("wall_seconds") else "") + ", "
             f"peak memory {report['peak_memory_mb']:.0f} MB, "
             f"{report['params_total']:,} parameters ({report['params_trainable']:,} trained)", ""]
    if t:
        lines += ["## Test split (touched once, at the end)", "",
                  "| metric | value |", "|---|---|",
                  f"| accuracy | {_pct(t['accuracy'])} |",
                  f"| F1 (macro) | {_pct(t['f1_macro'])} |",
                  f"| F1 (weighted) | {_pct(t['f1_weighted'])} |",
                  f"| precision / recall (macro) | {_pct(t['precision_macro'])} / {_pct(t['recall_macro'])} |",
                  "", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {c} | {_pct(m['precision'])} | {_pct(m['recall'])} | {_pct(m['f1'])} | {m['support']} |"
                  for c, m in t["per_class"].items()]
        lines.append("")
    if cv:
        lines += [f"## {cv['folds']}-fold cross-validation", "",
                  f"Accuracy {_pct(cv['accuracy_mean'])} ± {_pct(cv['accuracy_std'])}, "
                  f"F1 (macro) {_pct(cv['f1_macro_mean'])} ± {_pct(cv['f1_macro_std'])}.", ""]
    if report.get("selection"):
        lines += ["## Why this pipeline", "", "`auto` " + report["selection"]["reason"], ""]
        lines += selection_markdown(report["selection"])
    if verdict_text(report.get("baseline")):
        lines += ["## Compared with a simple baseline", "", verdict_text(report["baseline"]), ""]
    chosen = {k: c for k, c in (report.get("chosen_from_data") or {}).items() if c.get("why")}
    if chosen:
        lines += ["## Chosen from the data", ""] + [f"- {c['why']} (`{k}` = {c['value']})" for k, c in chosen.items()] + [""]
    notes = trust_notes(report)
    if notes:
        lines += ["## Read with care", ""] + [f"- {n['text']}" for n in notes] + [""]
    if d.get("warnings"):  # files skipped, and what the readers assumed (signals: layout, samples)
        lines += ["## How the files were read", ""] + [f"- {w}" for w in d["warnings"]] + [""]
    lines += health_markdown(report.get("data_health"))
    lines += ["Pictures: `curves.png` (loss and accuracy per epoch), `confusion_matrix.png`.", ""]
    return "\n".join(lines)


def selection_markdown(selection: dict) -> list[str]:
    """The candidates ``auto`` weighed, as a table (CV only; the test split chose nothing)."""
    lines = ["| candidate | what it is | CV accuracy | note |", "|---|---|---|---|"]
    for c in selection["candidates"]:
        cv = (f"{100 * c['cv_mean']:.1f} ± {100 * c['cv_std']:.1f} %" if c.get("cv_mean") is not None
              else c["status"])
        mark = " (kept)" if c["name"] == selection["kept"] else ""
        lines.append(f"| {c['name']}{mark} | {c['words']} | {cv} | {(c.get('note') or '').replace('|', '/')} |")
    return lines + [""]


def health_markdown(health: dict | None, limit: int = 5) -> list[str]:
    """The "Data health" block of summary.md: plain sentences, the files they name, what was done."""
    if not health:
        return []
    found = health["findings"]
    lines = ["## Data health", ""]
    if not any(f["severity"] != "info" for f in found):
        lines.append(f"No problems found in the {health['checked']} examples "
                     "(duplicates, leakage, label conflicts, imbalance, outliers, silent or blank files).")
    shown: Counter = Counter()
    for f in found:
        shown[f["kind"]] += 1
        if shown[f["kind"]] > limit:
            continue
        names = ", ".join(f"`{s['name']}`" for s in f["samples"][:4]) + (" …" if len(f["samples"]) > 4 else "")
        lines.append(f"- **{f['kind'].replace('_', ' ')}**: {f['message']}" + (f" ({names})" if names else "")
                     + (f". Fix: {f['action']}." if f["action"] else ""))
    lines += [f"- … and {n - limit} more {k.replace('_', ' ')} {agree(n - limit, 'finding')} in report.json"
              for k, n in shown.items() if n > limit]
    removed = health.get("removed_from_evaluation") or {}
    if removed:
        lines.append("- Left out of the scores because a copy is in the training data: "
                     + "; ".join(f"{len(v)} from {k}" for k, v in removed.items()) + ".")
    return lines + [""]
