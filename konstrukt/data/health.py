"""Data health: what is wrong with the examples before a model ever sees them.

The engine: the checks every modality gets, on the small per-file measurements its wing provides
(``konstrukt/modalities/<name>/health.py``, a :class:`~konstrukt.data.measure.HealthHooks` on the
:class:`~konstrukt.tasks.Modality` record). Each check is a :class:`~konstrukt.data.findings.Finding`
in plain words that names the samples it is about:

* **exact duplicates** (same bytes) and **near duplicates** (the modality's search: images a
  perceptual hash confirmed by their grey levels; audio and signals a fingerprint confirmed by an
  alignment check) — within a class (``exact_duplicate`` / ``near_duplicate``), across classes
  (``label_conflict``) and across train/validation/test (``leakage``: copies in an evaluation split
  inflate its score, so they are removed from it — see :meth:`HealthReport.apply`);
* **imbalance** of the training split (largest/smallest class > 3×), **too few** examples for the
  splits or the CV;
* **outliers** in the properties the modality compares (size, duration, sample rate, channel count,
  colour mode), **unreadable** files and empty ones (blank images, near-silent audio, constant
  signals), and the modality's own checks (signals: channel counts, flat channels, short recordings).

Duplicates are found with vectorised numpy on the measurements (:mod:`konstrukt.data.similarity`).
The post-training checks (likely mislabelled examples, what to add next) live in
:mod:`konstrukt.review`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..words import agree, count
from .findings import EVAL_SPLITS, Finding, HealthReport
from .measure import HealthHooks, Measure, measure_all
from .similarity import connected_groups
from .samples import Dataset

IMBALANCE_RATIO = 3.0
SIZE_RATIO = 4.0  # a size/duration this many times off the median is an outlier


# --------------------------------------------------------------------------- the checks

# A modality without health hooks still gets the checks that need no reading: exact copies,
# leakage, label conflicts, imbalance, too few.
_UNREAD = HealthHooks(lambda path: Measure(), lambda m, idx, samples, config: np.zeros((0, 2), int), {}, {},
                      lambda key, value, meta: str(value))


def _duplicates(report: HealthReport, measures: list[Measure], modality: HealthHooks,
                near: bool, remove_leaked: bool, config=None) -> None:
    samples = report.dataset.samples
    by_digest: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_digest.setdefault(s.digest or f"#{i}", []).append(i)
    exact = [(g[0], j) for g in by_digest.values() for j in g[1:]]
    pairs = np.array(exact, dtype=int).reshape(-1, 2)
    if near:
        usable = [i for i, m in enumerate(measures) if m.key is not None and m.flat is None]
        pairs = np.concatenate([pairs, modality.near_pairs(measures, usable, samples, config)])
    for group in connected_groups(len(samples), pairs):
        same_bytes = len({samples[i].digest for i in group}) == 1
        labels = sorted({samples[i].label for i in group})
        what = "exact copies" if same_bytes else f"near-identical {modality.noun}s"
        if len(labels) > 1:
            report.findings.append(Finding(
                "label_conflict", "error",
                f"{len(group)} {what} are labelled differently ({', '.join(f'`{c}`' for c in labels)})",
                group, "keep the one in the right class and delete (or move) the others",
                {"labels": labels, "exact": same_bytes}))
        else:
            report.findings.append(Finding(
                "exact_duplicate" if same_bytes else "near_duplicate", "warning",
                f"{len(group)} {what} in class `{labels[0]}`: they count {len(group)} times in training",
                group, "keep one and delete the others", {"exact": same_bytes}))
        _leakage(report, group, what, remove_leaked)


def _leakage(report: HealthReport, group: list[int], what: str, remove_leaked: bool) -> None:
    if report.splits is None:
        return
    where = {i: report.split_of(i) for i in group}
    if "train" not in where.values():
        return
    leaked = [i for i in group if where[i] in EVAL_SPLITS]
    if not leaked:
        return
    splits = sorted({where[i] for i in leaked})
    names = {"val": "validation", "test": "test"}
    done = "left out of" if remove_leaked else "still counted in"
    report.findings.append(Finding(
        "leakage", "error",
        f"{what.capitalize()} sit in train and in the {' and '.join(names[s] for s in splits)} split: "
        f"the model is scored on examples it trained on; {len(leaked)} {done} the "
        f"{'/'.join(names[s] for s in splits)} score",
        group, "delete the extra copies, or keep each example in one split only",
        {"removed": [int(i) for i in leaked] if remove_leaked else []}))
    if remove_leaked:
        for i in leaked:
            bucket = report.removed.setdefault(where[i], [])
            if i not in bucket:
                bucket.append(int(i))


def _imbalance(report: HealthReport) -> None:
    """Classes much bigger than others in what trains: the training split when there are splits (a
    large, even test split does not make up for 55 vs 11 training examples), else the whole set."""
    labels = report.dataset.labels()
    train = (report.splits or {}).get("train") or []
    counts = Counter(labels[i] for i in train) if train else Counter(labels)
    where = "in the training split, " if train else ""
    (big, n_big), (small, n_small) = max(counts.items(), key=lambda kv: kv[1]), min(
        counts.items(), key=lambda kv: kv[1])
    if n_small and n_big / n_small > IMBALANCE_RATIO:
        few = sorted(c for c, n in counts.items() if n_big / n > IMBALANCE_RATIO)
        report.findings.append(Finding(
            "imbalance", "warning",
            f"{where}classes are unbalanced: `{big}` has {n_big} examples, `{small}` only {n_small} "
            f"({n_big / n_small:.1f}×); the model will favour the big classes",
            [], f"add examples of {', '.join(f'`{c}`' for c in few)} (aim for similar counts per class)",
            {"per_class": dict(sorted(counts.items())), "ratio": round(n_big / n_small, 2),
             "split": "train" if train else None}))


def _held(n: int, frac: float) -> int:
    return 0 if frac <= 0 else max(1, int(round(n * frac)))


def _too_few(report: HealthReport, config) -> None:
    labels = report.dataset.labels()
    counts = Counter(labels)
    val, test = config.split.val, config.split.test
    need = 1 + (val > 0) + (test > 0)
    # Given splits are checked by make_splits; a split konstrukt makes needs `need` per class.
    small = [] if report.dataset.presplit else sorted(c for c, n in counts.items() if n < need)
    for c in small:
        report.findings.append(Finding(
            "too_few", "error",
            f"class `{c}` has {count(counts[c], 'example')}; splitting into train/validation/test needs at least {need}",
            [i for i, s in enumerate(report.dataset.samples) if s.label == c],
            f"add examples of `{c}`, or set the split fractions to 0", {"class": c, "need": need}))
    if report.splits is not None:
        pool = Counter(labels[i] for i in report.splits.get("train", []) + report.splits.get("val", []))
    else:
        pool = Counter({c: n - _held(n, test) - _held(n, val) for c, n in counts.items()})
    k = config.cv if config.cv is not None else (5 if sum(pool.values()) < config.small_data else 0)
    if k >= 2:
        short = sorted(c for c in counts if pool.get(c, 0) < k)
        if short:
            report.findings.append(Finding(
                "too_few", "warning",
                f"{k}-fold cross-validation needs {k} training examples per class; "
                + ", ".join(f"`{c}` has {pool.get(c, 0)}" for c in short)
                + " — the CV uses fewer folds" + (" or is skipped" if min(pool.get(c, 0) for c in short) < 2 else ""),
                [], f"add examples of {', '.join(f'`{c}`' for c in short)}", {"folds": k, "classes": short}))


def _outliers(report: HealthReport, measures: list[Measure], modality: HealthHooks) -> None:
    ok = [i for i, m in enumerate(measures) if m.error is None]
    if len(ok) < 3:
        return
    for key, name in modality.numeric.items():
        vals = np.array([measures[i].meta.get(key, np.nan) for i in ok], dtype=float)
        good = np.isfinite(vals) & (vals > 0)
        if good.sum() < 3:
            continue
        med = float(np.median(vals[good]))
        ratio = np.where(good, vals / med, 1.0)
        odd = [ok[k] for k in np.flatnonzero((ratio > SIZE_RATIO) | (ratio < 1 / SIZE_RATIO))]
        if odd:
            typical = min(ok, key=lambda i: abs(measures[i].meta.get(key, med) - med))
            report.findings.append(Finding(
                "outlier", "warning",
                f"{count(len(odd), modality.noun)} with an unusual {name} (most are about "
                f"{modality.shows(key, med, measures[typical].meta)})",
                odd, "check these files: a wrong or broken file, or something recorded differently",
                {"property": key, "typical": med},
                {i: {"value": modality.shows(key, measures[i].meta[key], measures[i].meta)} for i in odd}))
    for key, name in modality.categorical.items():
        vals = {i: measures[i].meta[key] for i in ok if measures[i].meta.get(key) is not None}
        counts = Counter(vals.values())
        if len(counts) < 2:
            continue
        common, n_common = counts.most_common(1)[0]
        rare = {v for v, n in counts.items() if v != common and n <= max(1, 0.1 * len(vals))}
        if n_common < 0.5 * len(vals) or not rare:
            continue
        odd = [i for i, v in vals.items() if v in rare]
        report.findings.append(Finding(
            "outlier", "warning",
            f"{count(len(odd), modality.noun)} {agree(len(odd), 'differs', 'differ')} in {name} from the other {n_common} "
            f"({modality.shows(key, common, {})})",
            odd, "check these files were recorded or exported like the others",
            {"property": key, "typical": common},
            {i: {"value": modality.shows(key, vals[i], measures[i].meta)} for i in odd}))


def _flat_and_unreadable(report: HealthReport, measures: list[Measure], modality: HealthHooks) -> None:
    for flat, text in modality.flats.items():
        idx = [i for i, m in enumerate(measures) if m.flat == flat]
        if idx:
            report.findings.append(Finding(flat, "warning", f"{count(len(idx), modality.noun)} "
                                           + text.format(are=agree(len(idx), "is", "are")), idx,
                                           "delete them, or record them again"))
    errors = {"unreadable": ("cannot be read", "re-export or delete them (training stops on them)"),
              "non_finite": ("{hold} NaN or infinite values (a sensor dropout or a failed export)",
                             "fill the gaps (e.g. interpolate) or cut them out and save again, or delete "
                             "the files (training stops on them)")}
    for kind, (text, fix) in errors.items():
        bad = [i for i, m in enumerate(measures) if m.error and m.error_kind == kind]
        if bad:
            report.findings.append(Finding(kind, "error", f"{count(len(bad), 'file')} "
                                           + text.format(hold=agree(len(bad), "holds", "hold")), bad, fix,
                                           notes={i: {"error": measures[i].error} for i in bad}))


def check_data(dataset: Dataset, task: str = "image", config=None, splits: dict[str, list[int]] | None = None,
               progress=None) -> HealthReport:
    """Run every data-stage check on ``dataset``; return the findings (nothing is raised or changed).

    ``splits`` (``{"train": [...], "val": [...], "test": [...]}``) enables the leakage check; with
    ``config.health.remove_leaked`` the leaked evaluation examples are listed in ``removed``.
    """
    from threadpoolctl import threadpool_limits

    from ..config import TrainConfig
    from ..tasks import TASKS, task_modality

    config = config or TrainConfig(task=task)
    load = task_modality(task).health
    modality = load() if load else _UNREAD
    report = HealthReport(dataset, splits=splits, checked=len(dataset.samples),
                          warnings=list(dataset.warnings))
    measures = (measure_all(dataset, TASKS.get(task).modality, modality, config, progress)
                if modality is not _UNREAD else [Measure() for _ in dataset.samples])
    _flat_and_unreadable(report, measures, modality)
    with threadpool_limits(1):  # many small array operations: BLAS threads only add waiting
        _duplicates(report, measures, modality, config.health.near_duplicates, config.health.remove_leaked,
                    config)
    _imbalance(report)
    _too_few(report, config)
    _outliers(report, measures, modality)
    if modality.extra:
        modality.extra(report, measures, config)
    return report


def check(data: str | Path, task: str = "image", config=None, progress=None) -> HealthReport:
    """Find the examples in ``data`` (folder, zip or CSV), split them as ``train`` would, and check them."""
    from ..config import TrainConfig
    from .split import make_splits
    from .sources import discover

    config = config or TrainConfig(task=task)
    dataset = discover(data, task)
    try:
        splits = make_splits(dataset, config)
    except DataError:
        splits = None  # too small to split: the too_few findings say which classes
    return check_data(dataset, task, config, splits, progress)


def enforce(report: HealthReport, strict: bool) -> None:
    """With ``strict``, raise DataError when the data leaks across splits or has label conflicts."""
    if strict and report.blocking:
        raise DataError(
            "the data has leakage or label conflicts (--strict stops on these)",
            [f.message + ": " + ", ".join(report.sample_dict(i)["name"] for i in f.samples[:6])
             + (" …" if len(f.samples) > 6 else "") for f in report.blocking])
