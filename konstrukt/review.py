"""After training: likely mislabelled examples and what to add next, from the cross-validation.

Both read the out-of-fold probabilities of the CV that already runs (each example scored by a
model that never saw it). Mislabelled examples are ranked by confident learning — cleanlab's
``find_label_issues`` — and "what to add next" reads the out-of-fold confusion matrix.
"""
from __future__ import annotations

import warnings

import numpy as np

from .data.findings import Finding


MIN_MARGIN = 0.3  # suggested minus given probability: a 53 % / 47 % doubt is not evidence
MIN_LIFT = 0.1  # out-of-fold accuracy above always answering the largest class, to trust any doubt


def likely_mislabelled(y: np.ndarray, proba: np.ndarray, classes: list[str], indices: list[int],
                       top: int = 10) -> list[Finding]:
    """Examples whose given label the out-of-fold predictions doubt most (cleanlab), best first.

    ``y`` and ``proba`` (N, C) are aligned with ``indices`` (dataset positions). Only clear doubts
    are listed: the suggested class must beat the given one by ``MIN_MARGIN``.
    """
    from cleanlab.filter import find_label_issues

    if top <= 0 or len(y) < 2 * len(classes):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cleanlab warns about tiny classes; the findings say enough
        # n_jobs=1: cleanlab's default forks a process pool, which deadlocked in the service worker
        # (a forked child waited forever for the stdin lock its parent-watch thread held); the
        # data here is small, so one process is as fast
        ranked = find_label_issues(labels=np.asarray(y), pred_probs=np.asarray(proba, dtype=float),
                                   return_indices_ranked_by="self_confidence", n_jobs=1)
    out = []
    for k in ranked[:top]:
        given, suggested = classes[int(y[k])], classes[int(np.argmax(proba[k]))]
        if given == suggested or proba[k].max() - proba[k][int(y[k])] < MIN_MARGIN:
            continue
        out.append(Finding(
            "mislabelled", "warning",
            f"likely mislabelled: labelled `{given}`, but models that never saw it say `{suggested}` "
            f"({100 * proba[k].max():.0f} %; `{given}` {100 * proba[k][int(y[k])]:.0f} %)",
            [indices[k]], f"look at it: move it to `{suggested}` if that is right, or delete it if it "
                          "fits no class", {"given": given, "suggested": suggested},
            {indices[k]: {"given": given, "suggested": suggested,
                          "confidence": round(float(proba[k].max()), 4)}}, stage="training"))
    return out


def what_to_add_next(confusion: np.ndarray, classes: list[str], source: str,
                     variety: str = "other conditions and sources") -> Finding | None:
    """One or two sentences from a confusion matrix (rows = true class): which classes need more
    examples (lowest recall) and which pair is confused most; ``variety``: the modality's words
    for what varied examples differ in (its ``Modality.variety``)."""
    cm = np.asarray(confusion, dtype=float)
    support = cm.sum(1)
    if support.sum() == 0:
        return None
    recall = np.divide(np.diag(cm), support, out=np.ones(len(classes)), where=support > 0)
    weak = [int(i) for i in np.argsort(recall) if recall[i] < 0.9][:2]
    off = cm + cm.T
    np.fill_diagonal(off, 0)
    sentences = []
    if weak:
        sentences.append("Add examples of " + " and ".join(f"`{classes[i]}`" for i in weak)
                         + f" first: {'they are' if len(weak) > 1 else 'it is'} recognised least often in "
                         f"{source} (" + ", ".join(f"{100 * recall[i]:.0f} %" for i in weak) + " recall).")
    if off.max() > 0:
        a, b = np.unravel_index(int(np.argmax(off)), off.shape)
        a, b = (a, b) if cm[a, b] >= cm[b, a] else (b, a)  # the larger direction first
        sentences.append(f"`{classes[a]}` and `{classes[b]}` are mixed up most ({int(cm[a, b])}× `{classes[a]}` "
                         f"taken for `{classes[b]}`, {int(cm[b, a])}× the other way): examples that show "
                         "what tells them apart help most.")
    if not sentences:
        sentences.append(f"Every class is recognised well in {source}; more varied examples ({variety}) "
                         "make the model sturdier.")
    return Finding("add_next", "info", " ".join(sentences), [], stage="training",
                   detail={"source": source, "recall": {c: round(float(r), 4) for c, r in zip(classes, recall)},
                           "weakest": [classes[i] for i in weak]})


def review(health, y: np.ndarray, oof: np.ndarray | None, pool: list[int], classes: list[str],
           test: dict | None, top: int = 10, task: str = "image") -> None:
    """Add the post-training findings to ``health`` (a HealthReport) in place; the advice is worded
    for ``task``'s modality."""
    from .tasks import MODALITIES, TASKS

    variety = MODALITIES.get(TASKS.get(task).modality).variety
    if oof is not None and len(pool) and np.isfinite(oof[pool]).all():
        proba = oof[pool]
        accuracy = float((proba.argmax(1) == y[pool]).mean())
        majority = float(np.bincount(y[pool]).max() / len(pool))
        if accuracy >= majority + MIN_LIFT:
            health.findings += likely_mislabelled(y[pool], proba, classes, pool, top)
        else:  # a model that barely beats guessing doubts everything a little: say so instead
            health.findings.append(Finding(
                "mislabelled", "info", f"not checked for mislabelled examples: the cross-validation "
                f"models are right {100 * accuracy:.0f} % of the time, hardly better than always answering "
                f"the largest class ({100 * majority:.0f} %), so their doubts mean little", [],
                "train longer or with another recipe, then look again", {"skipped": True}, stage="training"))
        from sklearn.metrics import confusion_matrix

        cm = confusion_matrix(y[pool], proba.argmax(1), labels=list(range(len(classes))))
        found = what_to_add_next(cm, classes, "cross-validation", variety)
    elif test:
        found = what_to_add_next(np.array(test["confusion_matrix"]), classes, "the test split", variety)
    else:
        found = None
    if found:
        health.findings.append(found)


def where_listed(findings: list[dict]) -> str:
    """Where a person finds the files that ``findings`` (report dicts) name: `konstrukt check`
    finds the data-stage ones again; only training's cross-validation finds the others."""
    stages = {f.get("stage", "data") for f in findings}
    if "data" in stages:
        return "see summary.md; `konstrukt check` lists the files"
    return "see summary.md and report.json: the cross-validation found these, `konstrukt check` cannot"
