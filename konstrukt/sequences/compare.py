"""``konstrukt compare`` on a labels CSV with text: the study's ladder (or named variants) trained on
the same split and the same group CV folds, a CER table and its picture, and a recommendation by
CV CER (validation CER when there is no CV; never the test split)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .. import artifacts
from .config import build_sequence_config
from .dataset import load
from .models import LADDER, parse_variant
from .run import resolved, run_sequences
from .runfolder import KIND, write_run


def variant_names(pipelines: str | list[str]) -> list[str]:
    """``recommended`` / ``offline`` / ``ladder``: the whole ladder; else the named variants."""
    if isinstance(pipelines, str):
        pipelines = list(LADDER) if pipelines in ("recommended", "offline", "ladder") else pipelines.split(",")
    return [parse_variant(p.strip()).name for p in pipelines if p.strip()]


def _row(name: str, report: dict) -> dict:
    test, cv, val = report.get("test") or {}, report.get("cv") or {}, report.get("val") or {}
    # name / kind / status: the fields every leaderboard row has (the web service reads them)
    return {"pipeline": name, "name": name, "kind": "pipeline", "status": "ok",
            "run": f"runs/{name.replace('+', '_')}", "test_cer": test.get("cer"),
            "cv_cer_mean": cv.get("cer_mean"), "cv_cer_std": cv.get("cer_std"), "val_cer": val.get("cer"),
            "exact_match": test.get("exact_match"), "train_seconds": report["train_seconds"],
            "params": report["params"], "latency_ms_batch1": report["latency_ms_batch1"]}


def recommend(rows: list[dict]) -> dict | None:
    """The lowest CV CER mean (validation CER without CV); ties → fewer parameters."""
    key = "cv_cer_mean" if all(r["cv_cer_mean"] is not None for r in rows) else "val_cer"
    scored = [r for r in rows if r[key] is not None]
    if not scored:
        return None
    best = min(scored, key=lambda r: (r[key], r["params"]))
    what = "cross-validation CER" if key == "cv_cer_mean" else "validation CER (no CV)"
    return {"pipeline": best["pipeline"], "name": best["pipeline"], "run": best["run"],
            "reason": f"{best['pipeline']} has the lowest {what}: {100 * best[key]:.1f}% (the test split "
                      "was not used to choose)"}


def recommend_runs(reports: dict[str, dict]) -> tuple[str | None, str]:
    """Of finished sequence runs (name → report.json), the one :func:`recommend` picks, with the
    reason in words — the rule ``compare`` uses (CV CER, else validation CER; never the test split)."""
    rows = [_row(name, report) for name, report in reports.items()]
    rec = recommend(rows) if rows else None
    if rec is None:
        return None, "no recommendation: none of these runs has a validation or cross-validation CER"
    return rec["pipeline"], rec["reason"]


def table_markdown(board: dict) -> str:
    def pct(x):
        return "–" if x is None else f"{100 * x:.1f}%"

    lines = ["| model | CV CER | test CER | exact | train s | params | batch-1 ms |", "|---|---|---|---|---|---|---|"]
    for r in board["rows"]:
        cv = "–" if r["cv_cer_mean"] is None else f"{pct(r['cv_cer_mean'])} ± {pct(r['cv_cer_std'])}"
        lines.append(f"| {r['pipeline']} | {cv} | {pct(r['test_cer'])} | {pct(r['exact_match'])} | "
                     f"{r['train_seconds']:.0f} | {r['params']:,} | {r['latency_ms_batch1']:.1f} |")
    return "\n".join(lines) + "\n"


def plot_board(board: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = board["rows"]
    names = [r["pipeline"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.2))
    cv = [r["cv_cer_mean"] if r["cv_cer_mean"] is not None else r["test_cer"] or 0 for r in rows]
    err = [r["cv_cer_std"] or 0 for r in rows]
    ax.barh(range(len(rows)), cv, xerr=err, color="#4c72b0")
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.set_xlabel("CER (CV mean ± std; lower is better)" if any(r["cv_cer_mean"] is not None for r in rows)
                  else "test CER (lower is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def compare_sequences(data: str | Path, *, out: str | Path, pipelines: str | list[str] = "recommended",
                      config: Any = None, overrides: dict | None = None, task: str | None = None,
                      overwrite: bool = False, verbose: bool = True, progress=None) -> dict:
    """Train each variant on the same split and folds; write leaderboard.json/.md/.png and runs/.
    ``progress`` gets each variant's events with ``pipeline``, ``index`` and ``pipelines``."""
    names = variant_names(pipelines)
    settings = build_sequence_config(config, {**(overrides or {}), **({"task": task} if task else {})})
    staging = artifacts.start_run_dir(Path(out), overwrite)
    try:
        loaded = load(data, settings)
        settings = resolved(settings, loaded)  # task, rate, front end (and its defaults): saved resolved, as train
        rows, reports = [], []
        for k, name in enumerate(names, start=1):
            variant = settings.model_copy(update={"pipeline": name})
            where = {"pipeline": name, "index": k, "pipelines": len(names)}
            if progress:
                progress({"stage": "compare", "message": f"training {name} ({k} of {len(names)})", **where})
            model, report = run_sequences(loaded, variant, verbose, progress=progress and (
                lambda event, where=where: progress({**event, **where})))
            folder = staging / "runs" / name.replace("+", "_")
            folder.mkdir(parents=True)
            write_run(folder, report, variant, model)
            rows.append(_row(name, report))
            reports.append(report)
        folds = next((r["cv"]["k"] for r in reports if r.get("cv")), 0)
        board = {"kind": KIND, "task": loaded.task, "examples": len(loaded.examples), "rows": rows, "folds": folds,
                 "recommendation": recommend(rows)}
        (staging / "leaderboard.json").write_text(json.dumps(board, indent=2), encoding="utf-8")
        (staging / "leaderboard.md").write_text(table_markdown(board), encoding="utf-8")
        plot_board(board, staging / "leaderboard.png")
        final = artifacts.finish_run_dir(staging, Path(out), overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    board["out"] = str(final)
    return board
