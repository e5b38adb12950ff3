"""How far to trust a run's figures, in plain words: one list of notes for every face.

A few dozen examples leave every figure uncertain, and the faces used to say so each in their own
words (the CLI, ``summary.md``, the model card and the web app: four wordings, four thresholds).
:func:`trust_notes` is the one place that decides which notes a run gets and words them; the faces
only render the list (the service adds it to ``GET /api/jobs/{id}/report`` as ``notes``). The
baseline verdict is :mod:`konstrukt.verdict`'s, and which of several runs is best is
:func:`konstrukt.pipelines.recommend_runs`'s (cross-validation only).

Each note is ``{"kind", "text"}``; the kinds: ``small_test`` (fewer than :data:`SMALL_TEST` test
examples: one mistake moves accuracy by many points), ``near_chance`` (the steadier accuracy within
:data:`NEAR_CHANCE` of guessing), ``few_per_class`` (a class with fewer than :data:`FEW_PER_CLASS`
scored examples), ``unsteady_cv`` (fold-to-fold spread over :data:`UNSTEADY_CV`).
"""
from __future__ import annotations

SMALL_TEST = 30  # test examples below which one mistake moves accuracy by more than ~3 points
NEAR_CHANCE = 0.1  # accuracy within this of 1 / classes is "hardly better than guessing"
FEW_PER_CLASS = 5  # scored examples of a class below which its per-class figures move in big steps
UNSTEADY_CV = 0.1  # fold standard deviation of accuracy above which the model is not yet reliable


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _small_test(test: dict | None, cv: dict | None) -> str | None:
    if not test or not test.get("n") or test["n"] >= SMALL_TEST:
        return None
    n = test["n"]
    return (f"The test split has only {n} examples, so one mistake moves accuracy by {100 / n:.0f} points"
            + ("; the cross-validation figure (the model trained and tested several times on different "
               "parts of the data) is the steadier number." if cv else "; more examples give a firmer figure."))


def _near_chance(report: dict, scored: dict | None, cv: dict | None) -> str | None:
    classes = len(report.get("classes") or [])
    best = cv["accuracy_mean"] if cv else (scored or {}).get("accuracy")
    if not classes or best is None or best >= 1 / classes + NEAR_CHANCE:
        return None
    return (f"This model is hardly better than guessing ({_pct(1 / classes)} for {classes} classes). "
            "More examples, more epochs or another recipe should help.")


def _few_per_class(scored: dict | None, split: str) -> str | None:
    supports = [m.get("support") for m in ((scored or {}).get("per_class") or {}).values()]
    supports = [s for s in supports if s is not None]
    if not supports or min(supports) >= FEW_PER_CLASS:
        return None
    return (f"Some classes have only {min(supports)} {split} example(s), so their per-class figures "
            "move in big steps.")


def _unsteady_cv(cv: dict | None) -> str | None:
    if not cv or (cv.get("accuracy_std") or 0) <= UNSTEADY_CV:
        return None
    return ("The results vary a lot between cross-validation folds: with this little data the model "
            "is not yet reliable. More examples per class will help most.")


def trust_notes(report: dict) -> list[dict]:
    """The notes on how far to trust ``report``'s figures (a run's ``report.json``), in order.

    Works on runs written by any version: a missing part (no test split, no CV) gives no note.
    """
    cv, test = report.get("cv") or None, report.get("test") or None
    scored, split = (test, "test") if test else (report.get("val") or None, "validation")  # as the faces show it
    found = [("small_test", _small_test(test, cv)), ("near_chance", _near_chance(report, scored, cv)),
             ("few_per_class", _few_per_class(scored, split)), ("unsteady_cv", _unsteady_cv(cv))]
    return [{"kind": kind, "text": text} for kind, text in found if text]
