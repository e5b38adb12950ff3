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

import contextlib
import copy
import dataclasses
import functools
import json
import logging
import shutil
import statistics
import sys
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import artifacts
from .errors import ConfigError, DataError, RunError, WeightsUnavailableError, brief, explain
from .pipelines import AUTO_CANDIDATES, PIPELINES, PipelineSpec, recommend
from .progress import Progress, ProgressCallback, with_overall
from .tasks import TASKS
from .verdict import verdict_text

log = logging.getLogger("konstrukt.compare")
LEADERBOARD_JSON, LEADERBOARD_MD, LEADERBOARD_PNG = "leaderboard.json", "leaderboard.md", "leaderboard.png"
SELECTIONS = ("recommended", "offline")


# --------------------------------------------------------------------------- which pipelines


@dataclass(frozen=True)
class Entry:
    """One contestant: a pipeline, optionally with another head preset (``NAME:HEAD``)."""

    name: str
    pipeline: str
    head: str | None = None

    @property
    def folder(self) -> str:
        return self.name.replace(":", "-")


def needs_download(spec: PipelineSpec, pretrained: str | None = None) -> str | None:
    """Why ``spec`` would have to download weights, or None when it trains without a download."""
    from .models.backbones import BACKBONES
    from .models.weights import is_cached

    backbone = BACKBONES.get(spec.backbone)
    tag = pretrained or spec.pretrained
    tag = backbone.default_weights if tag == "default" else tag
    if tag == "none" or tag not in backbone.weights or is_cached(backbone.weights[tag]):
        return None
    return f"needs the {spec.backbone}.{tag} weights, which are not on this machine"


def auto_contestants(task: str) -> list[str]:
    """The pipelines ``auto`` weighs for ``task`` on this machine: its pretrained start and the
    scratch model (see :mod:`konstrukt.auto`)."""
    from .auto import auto_plan

    plan = auto_plan(task)
    return [n for n in (plan.pretrained, plan.scratch) if n] or [plan.start]


def select_pipelines(task: str, pipelines: str | list[str] | tuple[str, ...]) -> list[Entry]:
    """Parse ``a,b,c`` / ``recommended`` / ``offline`` (or a list) into entries for ``task``.

    ``auto`` brings in the pipelines ``auto`` weighs on this machine (:mod:`konstrukt.auto`: the
    pretrained start, every head it chooses between, and the scratch model), which the
    leaderboard then ranks. Every unknown name and
    every pipeline that does not fit the task is reported at once, with the valid names.
    """
    names = [n.strip() for n in (pipelines.split(",") if isinstance(pipelines, str) else pipelines)]
    names = [n for n in names if n]
    usable = [n for n, p in PIPELINES.items() if task in p.tasks]
    if names in (["recommended"], ["offline"]):
        tspec = TASKS.get(task)
        if names == ["recommended"]:
            names = list(tspec.shortlist or (tspec.default_pipeline, tspec.offline_pipeline))
        else:
            names = [n for n in usable if needs_download(PIPELINES.get(n)) is None]
    if not names:
        raise ConfigError("no pipelines to compare", [f"give --pipelines a,b,c; pipelines for {task}: "
                                                       f"{', '.join(usable)}; or recommended / offline"])
    from .models.heads import HEADS

    entries, problems = [], []
    for raw in names:
        name, _, head = raw.partition(":")
        if head and head not in HEADS:
            problems.append(f"unknown head {head!r} in {raw!r}; heads: {', '.join(HEADS.names())}")
            continue
        for n in (auto_contestants(task) if name == "auto" else [name]):
            if n not in PIPELINES:
                problems.append(f"unknown pipeline {n!r}; pipelines for {task}: {', '.join(usable)}")
            elif task not in PIPELINES.get(n).tasks:
                problems.append(f"pipeline {n!r} does not work on task {task!r}; pipelines for {task}: "
                                f"{', '.join(usable)}")
            else:
                expanded = AUTO_CANDIDATES[n] if n in AUTO_CANDIDATES else (n,)
                entries += [Entry(f"{m}:{head}" if head else m, m, head or None) for m in expanded]
    if problems:
        raise ConfigError("cannot compare these pipelines", problems)
    return list(dict.fromkeys(entries))  # each once, in the order given


# --------------------------------------------------------------------------- measuring one pipeline


def _median_ms(call, inputs: list, repeats: int, budget_s: float = 0.25) -> float:
    """Median wall time (ms) of ``call`` after two warm-up calls: ``repeats`` timed calls, or as
    many (at least 5) as fit in ``budget_s`` when one call is slow (a big backbone at batch 1)."""
    for n in range(2):
        call(inputs[n % len(inputs)])
    times: list[float] = []
    while len(times) < repeats and (len(times) < 5 or sum(times) < budget_s):
        start = time.perf_counter()
        call(inputs[len(times) % len(inputs)])
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def latency_ms(model, prepared, indices: list[int], repeats: int = 10) -> float:
    """Median wall time (ms) to classify one example, batch 1, preprocessing included, this machine.

    With a frozen backbone, pipelines that share it (``compare`` of several heads) share its part
    of the time: preprocessing + backbone is measured once per group, and each head on its own.
    """
    import torch

    device = prepared.device
    model.eval().to(device)
    raws = [prepared.raws[i] for i in indices[:3]] or prepared.raws[:1]
    with torch.inference_mode():
        def features(raw):
            return model.backbone(prepared.pre.tensor(raw)[None].to(device))

        if not getattr(model, "backbone_frozen", False):
            return _median_ms(lambda raw: model.head(features(raw)).float().cpu(), raws, repeats)
        # A group's Prepared (one memo) means one backbone, its weights and preprocessing; frozen, it
        # is the same network in every pipeline of the group.
        if "frozen_backbone_latency" not in prepared.memo:
            embedded: dict[int, Any] = {}  # the timed calls' outputs feed the heads' timing

            def embed(k: int):
                embedded[k] = features(raws[k])

            backbone_ms = _median_ms(embed, list(range(len(raws))), repeats)
            prepared.memo["frozen_backbone_latency"] = (backbone_ms, [embedded[k] for k in range(len(raws))])
        backbone_ms, embedded = prepared.memo["frozen_backbone_latency"]
        return backbone_ms + _median_ms(lambda f: model.head(f).float().cpu(), embedded, repeats)


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
            "status": status, "reason": _why(exc), "brief": brief(exc),
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


def _why(exc: BaseException) -> str:
    return explain(exc)


# --------------------------------------------------------------------------- the comparison


class _Contest:
    """Runs the entries group by group (one Prepared per backbone, weights and preprocessing)."""

    def __init__(self, data, out: Path, entries: list[Entry], configs: dict, reporter: Progress,
                 callback: ProgressCallback | None, verbose: bool, processes: int | None = None):
        self.data, self.out, self.entries, self.configs = data, out, entries, configs
        self.processes = processes
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

        return Progress(forward, self.verbose)

    def not_run(self, entry: Entry, status: str, exc: BaseException) -> None:
        """``entry``'s row says why it did not run; the live log says so too."""
        self.rows[entry.name] = row = _not_run(entry, status, exc)
        self.progress_for(entry).event("not_run", f"{entry.name}: {status} — {row['brief']}", status=status)

    def group_key(self, entry: Entry) -> tuple:
        from .models.backbones import BACKBONES, resolve_pretrained
        from .preprocess import build_preprocessor

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
        from .config import build_config, config_dict
        from .experiment import prepare

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
                                    f"pipeline {index}/{total}: {entry.name}", f"[{index}/{total}] {entry.name}"))
        runner = _pipeline_runner or functools.partial(run_pipelines, processes=self.processes)
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


@dataclass
class PipelineJob:
    """One pipeline of a comparison: its Prepared (the group's shared decode and split, its own
    config), the run folder to write, and its progress."""

    prepared: Any
    folder: Path
    progress: Progress
    title: str  # the progress event that announces it
    line: str  # … and the line people see


def train_pipeline(job: PipelineJob):
    """Fit, evaluate and write one pipeline's run folder; return (model, report, seconds)."""
    from .config import config_dict
    from .experiment import run_experiment
    from .runtime import reset_peak_memory

    prepared, progress = job.prepared, job.progress
    progress.event("compare", job.title)
    progress.say(job.line)
    started = time.perf_counter()
    reset_peak_memory(prepared.device)
    model, results = run_experiment(prepared, progress)
    report = artifacts.build_report(prepared, results)
    job.folder.mkdir(parents=True)
    artifacts.write_run(job.folder, report, config_dict(prepared.config), model, prepared.pre.state(),
                        prepared.dataset.root)
    return model, report, time.perf_counter() - started


def pipeline_latency(model, prepared) -> float:
    """The leaderboard's latency of a fitted pipeline: timed on test examples (else train/val)."""
    pool = prepared.splits["train"] + prepared.splits["val"]
    return latency_ms(model, prepared, prepared.splits["test"] or pool)


def fit_pipeline(job: PipelineJob) -> tuple[dict, float, float]:
    """One pipeline as a step: fit, evaluate, write its run folder; return (report, latency ms, seconds)."""
    model, report, seconds = train_pipeline(job)
    return report, pipeline_latency(model, job.prepared), seconds


def run_pipelines(jobs: list[PipelineJob], processes: int | None = None
                  ) -> list[tuple[dict, float, float] | Exception]:
    """The pipelines of one group on this machine (the default pipeline runner); a failing
    pipeline gives its exception in its place.

    Heads on a frozen backbone run side by side in up to ``processes`` forked processes (default:
    one per core; see :mod:`konstrukt.execution.forked`); anything else, or ``processes=1``, one
    after another in this process.
    """
    from .execution.forked import can_fork, run_forked

    if can_fork(jobs, processes):
        return run_forked(jobs, processes)
    results = []
    for job in jobs:
        try:
            results.append(fit_pipeline(job))
        except Exception as exc:  # noqa: BLE001 — one pipeline failing must not stop the others
            if not isinstance(exc, WeightsUnavailableError):
                log.exception("pipeline failed")
            results.append(exc)
    return results


_pipeline_runner = None  # an executor's way to spread pipelines (see use_pipeline_runner)


@contextlib.contextmanager
def use_pipeline_runner(runner):
    """Run the pipelines of a comparison with ``runner`` (e.g. as parallel Ray tasks) in this block."""
    global _pipeline_runner
    previous, _pipeline_runner = _pipeline_runner, runner
    try:
        yield
    finally:
        _pipeline_runner = previous


def resolve_entries(task: str | None, pipelines, config, overrides: dict | None
                    ) -> tuple[str, int, list[Entry], dict, dict[str, str]]:
    """Validate everything before the long work: task, names, configs, CV folds, weights."""
    from .experiment import resolve_config

    overrides = {k: v for k, v in (overrides or {}).items() if k not in ("pipeline", "head")}
    base, _ = resolve_config(task, None, config, overrides)
    k = base.cv if base.cv is not None else 5
    if k < 2:
        raise ConfigError(f"compare ranks pipelines on cross-validation: cv must be at least 2, got {k}",
                          ["Fix: leave --cv out (5 folds) or pass --cv 3."])
    entries = select_pipelines(base.task, pipelines)
    configs, problems, skipped = {}, [], {}
    for entry in entries:
        try:
            configs[entry] = resolve_config(base.task, entry.pipeline, config,
                                            {**overrides, "cv": k, "head": entry.head})
        except ConfigError as exc:
            problems += [f"{entry.name}: {p}" for p in [exc.message, *exc.problems]]
            continue
        from .models.weights import offline

        why = needs_download(configs[entry][1], configs[entry][0].pretrained) if offline() else None
        if why:
            skipped[entry.name] = WeightsUnavailableError(
                f"{why} and downloads are off", ["Fix: pass --pretrained PATH or compare offline pipelines"])
    if problems:
        raise ConfigError("invalid settings for some pipelines", problems)
    if len(skipped) == len(entries):
        raise WeightsUnavailableError("no pipeline can run: every one needs weights that are not on this "
                                      "machine", [f"{n}: {w.message}" for n, w in skipped.items()]
                                      + ["Fix: --pipelines offline, or put the weights into the cache"])
    return base.task, k, entries, configs, skipped


def compare(data: str | Path, *, out: str | Path, task: str | None = None,
            pipelines: str | list[str] = "recommended", config=None, overrides: dict | None = None,
            progress: ProgressCallback | None = None, overwrite: bool = False,
            verbose: bool = True, processes: int | None = None) -> dict[str, Any]:
    """Train every pipeline on the same split and folds of ``data``; write and return the leaderboard.

    ``pipelines``: ``"a,b,c"`` or a list (``NAME:HEAD`` swaps the head preset, e.g.
    ``efficientnet_b0:mlp``), ``"recommended"`` (the task's short list) or ``"offline"`` (every
    pipeline that needs no download). ``config``/``overrides`` apply to every pipeline, as in
    ``train``. Progress events carry ``pipeline``, ``index`` and ``pipelines`` (also as ``total``,
    except on embedding events, whose ``total`` counts views) and the overall progress. A pipeline whose
    weights are unavailable is skipped and one that fails gets its reason in its row; the others
    go on. Heads on one frozen backbone train side by side in up to ``processes`` processes
    (default: one per core; 1: one after another). Returns the leaderboard dict (also
    ``leaderboard.json`` in ``out``).
    """
    if processes is not None and processes < 1:
        raise ConfigError(f"processes must be at least 1, got {processes}")
    from .runtime import use_all_cores

    progress = with_overall(progress)  # one progress over every pipeline, with the time left
    reporter = Progress(progress, verbose)
    task, k, entries, configs, skipped = resolve_entries(task, pipelines, config, overrides)
    out = Path(out).expanduser()
    staging = artifacts.start_run_dir(out, overwrite)
    try:
        use_all_cores()
        started = time.perf_counter()
        contest = _Contest(data, staging, entries, configs, reporter, progress, verbose, processes)
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


def leaderboard(task: str, k: int, entries: list[Entry], contest: _Contest, seconds: float) -> dict:
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
    from .auto import advice
    from .verdict import baseline_verdict

    if not rec or not ref:
        return None
    row = rows[rec["name"]]
    mine = {"cv": {"per_fold": [{"accuracy": a} for a in row["cv_scores"]],
                   "folds_fingerprint": row.get("folds_fingerprint")} if row.get("cv_scores") else None,
            "test": {"accuracy": row.get("test_accuracy"), "n": row.get("test_n")}}
    tried = {r["pipeline"] for r in rows.values() if r.get("pipeline")}
    return baseline_verdict(mine, ref, subject=rec["name"], advice=advice(task, tried) if task else ())


# --------------------------------------------------------------------------- writing it down


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _cv(r: dict) -> str:
    return "–" if r.get("cv_mean") is None else f"{100 * r['cv_mean']:.1f} ± {100 * r['cv_std']:.1f}"


def _num(x, fmt: str) -> str:
    return "–" if x is None else format(x, fmt)


COLUMNS = [  # header, cell
    ("pipeline", lambda r: r["name"]),
    ("CV acc % (mean ± std)", _cv),
    ("test acc", lambda r: _pct(r.get("test_accuracy"))),
    ("test F1 macro", lambda r: _pct(r.get("test_f1_macro"))),
    ("train s", lambda r: _num(r.get("train_seconds"), ".1f")),
    ("peak MB", lambda r: _num(r.get("peak_memory_mb"), ".0f")),
    ("params total/trained", lambda r: "–" if r.get("params_total") is None
     else f"{r['params_total']:,}/{r['params_trainable']:,}"),
    ("model MB", lambda r: _num(r["model_bytes"] / 1e6 if r.get("model_bytes") else None, ".2f")),
    ("latency ms", lambda r: _num(r.get("latency_ms"), ".1f")),
]


def _status(r: dict) -> str:
    return "" if r["status"] == "ok" or r["kind"] == "reference" else f"{r['status']}: {r['reason']}"


def table_text(board: dict) -> str:
    """The leaderboard as a fixed-width table for the terminal."""
    cells = [[h for h, _ in COLUMNS]] + [[f(r) for _, f in COLUMNS] for r in board["rows"] if r["status"] == "ok"]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    for r in board["rows"]:
        if _status(r):
            lines.append(f"  {r['name']}: {_status(r)}")
    return "\n".join(lines)


def markdown(board: dict) -> str:
    rec = board["recommendation"]
    lines = [f"# Leaderboard — {board['task']}", "",
             f"Every pipeline was trained on the same split ({', '.join(f'{k} {v}' for k, v in board['splits'].items())}) "
             f"and cross-validated on the same {board['folds']} folds (fingerprint `{board['folds_fingerprint']}`); "
             "the recommendation uses cross-validation only, never the test split.", "",
             "| " + " | ".join(h for h, _ in COLUMNS) + " | note |", "|" + "---|" * (len(COLUMNS) + 1)]
    for r in board["rows"]:
        cells = [f(r) if r["status"] == "ok" else (r["name"] if i == 0 else "–") for i, (_, f) in enumerate(COLUMNS)]
        note = "**recommended**" if rec and r["name"] == rec["name"] else (
            "reference, not exported" if r["kind"] == "reference" else _status(r))
        lines.append("| " + " | ".join(cells + [note.replace("|", "/")]) + " |")
    lines.append("")
    if rec:
        lines += ["## Recommendation", "", rec["reason"], "", f"Run folder: `{rec['run']}`", ""]
    if verdict_text(board.get("verdict")):
        lines += ["## Compared with a simple baseline", "", verdict_text(board["verdict"]), ""]
    lines += ["Latency: one example at a time (batch 1), preprocessing included, on the machine that "
              "ran the comparison. Peak memory: GPU when used, else the process's resident set.", "",
              f"Picture: `{LEADERBOARD_PNG}` (CV accuracy with fold std error bars vs latency).", ""]
    return "\n".join(lines)


def plot(board: dict, path: Path) -> None:
    """CV accuracy (mean ± fold std) against latency; the reference as a band; the pick ringed."""
    from .plots import plt

    rows = [r for r in board["rows"] if r["status"] == "ok" and r["kind"] == "pipeline" and r["cv_mean"] is not None]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in rows:
        ax.errorbar(r["latency_ms"], 100 * r["cv_mean"], yerr=100 * r["cv_std"], fmt="o", capsize=4, ms=7)
        ax.annotate(r["name"], (r["latency_ms"], 100 * r["cv_mean"]), textcoords="offset points",
                    xytext=(6, 6), fontsize=9)
    rec = board["recommendation"]
    if rec:
        r = next(x for x in rows if x["name"] == rec["name"])
        ax.plot(r["latency_ms"], 100 * r["cv_mean"], "o", ms=16, mfc="none", mec="tab:green", mew=2,
                label=f"recommended: {rec['name']}")
    for r in board["rows"]:
        if r["kind"] == "reference" and r.get("cv_mean") is not None:
            m, s = 100 * r["cv_mean"], 100 * r["cv_std"]
            ax.axhline(m, color="grey", ls="--", lw=1, label=r["name"])
            ax.axhspan(m - s, m + s, color="grey", alpha=0.12)
    if rows and max(r["latency_ms"] for r in rows) > 20 * min(r["latency_ms"] for r in rows):
        ax.set_xscale("log")
    ax.set_xlabel("latency per example, batch 1 (ms, this machine)")
    ax.set_ylabel(f"{board['folds']}-fold CV accuracy (%)")
    ax.set_title(f"{board['task']}: accuracy vs speed (error bars: fold std)")
    ax.set_ylim(max(-2, ax.get_ylim()[0]), min(102, max(ax.get_ylim()[1], 50)))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_leaderboard(folder: Path, board: dict) -> None:
    (folder / LEADERBOARD_JSON).write_text(json.dumps(board, indent=2, ensure_ascii=False), encoding="utf-8")
    (folder / LEADERBOARD_MD).write_text(markdown(board), encoding="utf-8")
    plot(board, folder / LEADERBOARD_PNG)


class _CallableModule(types.ModuleType):
    """Importing this module sets the package attribute ``konstrukt.compare`` to the module,
    hiding the function of the same name; calling the module calls :func:`compare`, so
    ``konstrukt.compare(...)`` works either way."""

    def __call__(self, *args, **kwargs):
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
