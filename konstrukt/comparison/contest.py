"""Compare pipelines honestly: the same split and CV folds, a leaderboard, a recommendation.

``compare`` is what ``konstrukt compare``, the service's "Compare recipes" job and
``konstrukt.compare`` call. Every pipeline trains on the same split and is cross-validated on
the same folds (checked, not assumed); pipelines that share a frozen backbone share its decoded
data, model and embedding cache, so three heads on one backbone cost one backbone pass. Each
pipeline leaves a normal run folder (``runs/<name>/``), so the winner can be used and exported
at once. The recommendation looks at cross-validation only (``pipelines.recommend``), never at
the test split. The modality's classical reference model (``reference.py``) is a row of its own,
on the same split and folds, for honesty; it is not a model to export.

Out folder: ``leaderboard.json``, ``leaderboard.md``, ``leaderboard.png`` (CV accuracy with
error bars vs latency) and ``runs/<name>/``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from .. import artifacts
from ..errors import ConfigError, DataError, RunError, WeightsUnavailableError, brief, explain
from ..execution.forked import run_local
from ..execution.pipelines import PipelineJob
from ..execution.runners import Runners
from ..pipelines import recommend
from ..progress import Progress, ProgressCallback, with_overall
from .entries import Entry, resolve_entries
from .leaderboard import write_leaderboard

log = logging.getLogger("konstrukt.compare")


def _row(entry: Entry, report: dict, folder: Path, latency: float, seconds: float) -> dict[str, Any]:
    test, cv = report.get("test") or {}, report.get("cv") or {}
    return {
        "name": entry.name, "kind": "pipeline", "pipeline": entry.pipeline, "head": entry.head,
        "status": "ok", "reason": None,
        "strategy": report["strategy"], "backbone": report["model"]["backbone"],
        "test_accuracy": test.get("accuracy"), "test_f1_macro": test.get("f1_macro"), "test_n": test.get("n"),
        "cv_mean": cv.get("accuracy_mean"), "cv_std": cv.get("accuracy_std"),
        "cv_f1_macro_mean": cv.get("f1_macro_mean"),
        "cv_scores": [f["accuracy"] for f in cv.get("per_fold", [])],
        "folds_fingerprint": cv.get("folds_fingerprint"),
        "train_seconds": report["train_seconds"], "seconds": round(seconds, 3),
        "peak_memory_mb": report["peak_memory_mb"],
        "params_total": report["params_total"], "params_trainable": report["params_trainable"],
        "model_bytes": (folder / artifacts.WEIGHTS).stat().st_size, "latency_ms": round(latency, 3),
        "run": f"runs/{entry.folder}",
    }


def _not_run(entry: Entry, status: str, exc: BaseException) -> dict[str, Any]:
    # reason: the whole story (CLI); brief: one line for a table cell; service_reason: for a web user
    return {"name": entry.name, "kind": "pipeline", "pipeline": entry.pipeline, "head": entry.head,
            "status": status, "reason": explain(exc), "brief": brief(exc),
            "service_reason": explain(exc, service=True), "run": None}


def _reference_row(ref: dict) -> dict[str, Any]:
    test, cv = ref.get("test") or {}, ref.get("cv") or {}
    return {"name": f"reference: {ref['name']}", "kind": "reference", "pipeline": None, "status": "ok",
            "reason": ref["description"] + " — a simple peer for honesty, not a model to export",
            "test_accuracy": test.get("accuracy"), "test_f1_macro": test.get("f1_macro"),
            "test_n": test.get("n"), "cv_mean": cv.get("accuracy_mean"), "cv_std": cv.get("accuracy_std"),
            "cv_f1_macro_mean": cv.get("f1_macro_mean"),
            "cv_scores": [f["accuracy"] for f in cv.get("per_fold", [])],
            "folds_fingerprint": cv.get("folds_fingerprint"), "run": None}


class Contest:
    """Runs the entries group by group (one Prepared per backbone, weights and preprocessing)."""

    def __init__(self, data, out: Path, entries: list[Entry], configs: dict, reporter: Progress,
                 callback: ProgressCallback | None, verbose: bool, runners: Runners,
                 processes: int | None = None):
        self.data, self.out, self.entries, self.configs = data, out, entries, configs
        self.runners, self.processes = runners, processes
        self.reporter, self.callback, self.verbose = reporter, callback, verbose
        self.rows: dict[str, dict] = {}
        self.splits: dict[str, list[str]] | None = None
        self.references: list[dict] = []

    def progress_for(self, entry: Entry) -> Progress:
        index, total = self.entries.index(entry) + 1, len(self.entries)

        def forward(event: dict) -> None:
            if self.callback:
                # an embedding event's own done/total stays; ``pipelines`` is always the pipeline count
                self.callback({"total": total, **event, "pipeline": entry.name, "index": index, "pipelines": total})

        return Progress(forward, self.verbose, said=self.reporter.said)  # a warning once, not per pipeline

    def not_run(self, entry: Entry, status: str, exc: BaseException) -> None:
        """``entry``'s row says why it did not run; the live log says so too."""
        self.rows[entry.name] = row = _not_run(entry, status, exc)
        self.progress_for(entry).event("not_run", f"{entry.name}: {status} — {row['brief']}", status=status)

    def group_key(self, entry: Entry) -> tuple:
        from ..models.backbones import BACKBONES, resolve_pretrained
        from ..preprocess import build_preprocessor

        cfg, spec = self.configs[entry]
        backbone = BACKBONES.get(spec.backbone)
        pre = build_preprocessor(backbone, cfg)
        return spec.backbone, resolve_pretrained(backbone, cfg.pretrained), pre.signature, cfg.seed

    def run(self) -> None:
        groups: dict[tuple, list[Entry]] = {}
        for entry in self.entries:
            if entry.name not in self.rows:
                groups.setdefault(self.group_key(entry), []).append(entry)
        for members in groups.values():
            self.run_group(members)

    def run_group(self, members: list[Entry]) -> None:
        from ..config import build_config, config_dict
        from ..prepare import prepare

        first = members[0]
        cfg, spec = self.configs[first]
        try:
            prepared = prepare(self.data, cfg, spec, self.progress_for(first))
        except WeightsUnavailableError as exc:
            for e in members:
                self.not_run(e, "skipped", exc)
            return
        except DataError:
            raise  # the data itself: every pipeline would fail the same way
        except Exception as exc:  # noqa: BLE001 — one pipeline failing must not stop the others
            log.exception("preparing %s failed", first.name)
            for e in members:
                self.not_run(e, "failed", exc)
            return
        self.check_split(prepared)
        jobs, total = [], len(self.entries)
        for entry in members:
            e_cfg, e_spec = self.configs[entry]
            if prepared.fitted:  # settings prepare chose from the data (audio length, flips) hold for the group
                e_cfg = build_config(config_dict(e_cfg), prepared.fitted)
            index = self.entries.index(entry) + 1
            # Each run's report gets its own copy of the data health: training adds its findings in place.
            jobs.append(PipelineJob(dataclasses.replace(prepared, config=e_cfg, pipeline=e_spec,
                                                        health=copy.deepcopy(prepared.health)),
                                    self.out / "runs" / entry.folder, self.progress_for(entry),
                                    f"pipeline {index}/{total}: {entry.name}", f"[{index}/{total}] {entry.name}",
                                    self.runners.folds))
        runner = self.runners.pipelines or functools.partial(run_local, processes=self.processes)
        for entry, job, result in zip(members, jobs, runner(jobs)):
            self.record(entry, job.folder, result)

    def check_split(self, prepared) -> None:
        """Every pipeline must see the same split: compare its file lists with the first one's."""
        files = {k: [str(prepared.dataset.samples[i].path) for i in v] for k, v in prepared.splits.items()}
        if self.splits is None:
            self.splits = files
        elif files != self.splits:
            raise RuntimeError("internal error: pipelines got different splits of the same data")

    def record(self, entry: Entry, folder: Path, result) -> None:
        """The row of one pipeline from what :func:`fit_pipeline` returned (or the error it raised)."""
        if isinstance(result, BaseException):  # its row says why; the others go on
            shutil.rmtree(folder, ignore_errors=True)  # no half-written run folder
            status = "skipped" if isinstance(result, WeightsUnavailableError) else "failed"
            self.not_run(entry, status, result)
            return
        report, latency, seconds = result
        self.rows[entry.name] = _row(entry, report, folder, latency, seconds)
        if report.get("reference"):
            self.references.append(report["reference"])


def compare(data: str | Path, *, out: str | Path, task: str | None = None,
            pipelines: str | list[str] = "recommended", config=None, overrides: dict | None = None,
            progress: ProgressCallback | None = None, overwrite: bool = False,
            verbose: bool = True, processes: int | None = None,
            runners: Runners | None = None) -> dict[str, Any]:
    """Train every pipeline on the same split and folds of ``data``; write and return the leaderboard.

    ``pipelines``: ``"a,b,c"`` or a list (``NAME:HEAD`` swaps the head preset, e.g.
    ``efficientnet_b0:mlp``), ``"recommended"`` (the task's short list) or ``"offline"`` (every
    pipeline that needs no download). ``config``/``overrides`` apply to every pipeline, as in
    ``train``. Progress events carry ``pipeline``, ``index`` and ``pipelines`` (also as ``total``,
    except on embedding events, whose ``total`` counts views) and the overall progress. A pipeline whose
    weights are unavailable is skipped and one that fails gets its reason in its row; the others
    go on. Heads on one frozen backbone train side by side in up to ``processes`` processes
    (default: one per core; 1: one after another); ``runners`` replaces how the pipelines and their
    folds run (the Ray executor's parallel tasks). Returns the leaderboard dict (also
    ``leaderboard.json`` in ``out``).
    """
    from ..sequences.data import is_text_csv

    if is_text_csv(data):  # a labels CSV with text: the sequence variants (konstrukt/sequences/)
        from ..sequences.compare import compare_sequences

        return compare_sequences(data, out=out, pipelines=pipelines, config=config, overrides=overrides,
                                 task=task, overwrite=overwrite, verbose=verbose, progress=progress)
    if processes is not None and processes < 1:
        raise ConfigError(f"processes must be at least 1, got {processes}")
    from ..runtime import use_all_cores

    progress = with_overall(progress)  # one progress over every pipeline, with the time left
    reporter = Progress(progress, verbose)
    task, k, entries, configs, skipped = resolve_entries(task, pipelines, config, overrides)
    out = Path(out).expanduser()
    staging = artifacts.start_run_dir(out, overwrite)
    try:
        use_all_cores()
        started = time.perf_counter()
        contest = Contest(data, staging, entries, configs, reporter, progress, verbose, runners or Runners(),
                          processes)
        for e in entries:
            if e.name in skipped:
                contest.not_run(e, "skipped", skipped[e.name])
        contest.run()
        board = leaderboard(task, k, entries, contest, time.perf_counter() - started)
        write_leaderboard(staging, board)
        final = artifacts.finish_run_dir(staging, out, overwrite)
    except BaseException:
        artifacts.abandon_run_dir(staging)
        raise
    board["out"] = str(final)
    reporter.event("done", f"leaderboard written to {final}", out=str(final),
                   recommended=(board["recommendation"] or {}).get("name"))
    return board


def leaderboard(task: str, k: int, entries: list[Entry], contest: Contest, seconds: float) -> dict:
    """Rows (pipelines by CV mean, then the reference, then skipped/failed), recommendation, verdict."""
    rows = [contest.rows[e.name] for e in entries]
    done = [r for r in rows if r["status"] == "ok"]
    if not done:
        raise RunError("no pipeline finished", [f"{r['name']}: {r['status']} — {r['reason']}" for r in rows])
    seen = {r["folds_fingerprint"] for r in done} | {
        ref["cv"]["folds_fingerprint"] for ref in contest.references if ref.get("cv")}
    if len(seen) != 1:  # by construction they are equal; a report that says otherwise is a bug
        raise RuntimeError(f"internal error: pipelines were cross-validated on different folds: {seen}")
    ranked = sorted(done, key=lambda r: -(r["cv_mean"] if r["cv_mean"] is not None else -1))
    ref = contest.references[0] if contest.references else None
    table = ranked + ([_reference_row(ref)] if ref else []) + [r for r in rows if r["status"] != "ok"]
    rec = None
    scored = [r for r in done if r["cv_scores"]]
    if scored:
        name, reason = recommend([{"name": r["name"], "scores": r["cv_scores"], "params": r["params_total"],
                                   "latency_ms": r["latency_ms"]} for r in scored])
        rec = {"name": name, "reason": reason, "run": contest.rows[name]["run"]}
    return {"task": task, "folds": k, "splits": {s: len(f) for s, f in (contest.splits or {}).items()},
            "folds_fingerprint": done[0]["folds_fingerprint"],
            "rows": table, "recommendation": rec, "verdict": verdict(rec, contest.rows, ref, task),
            "seconds": round(seconds, 3)}


def verdict(rec: dict | None, rows: dict, ref: dict | None, task: str | None = None) -> dict | None:
    """The recommended pipeline against the simple reference on the same folds: the core's one
    rule and text (:func:`konstrukt.verdict.baseline_verdict`)."""
    from ..auto import advice
    from ..verdict import baseline_verdict

    if not rec or not ref:
        return None
    row = rows[rec["name"]]
    mine = {"cv": {"per_fold": [{"accuracy": a} for a in row["cv_scores"]],
                   "folds_fingerprint": row.get("folds_fingerprint")} if row.get("cv_scores") else None,
            "test": {"accuracy": row.get("test_accuracy"), "n": row.get("test_n")}}
    tried = {r["pipeline"] for r in rows.values() if r.get("pipeline")}
    return baseline_verdict(mine, ref, subject=rec["name"], advice=advice(task, tried) if task else ())
