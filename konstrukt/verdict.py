"""Is the model better than the simple baseline? One rule and one text, for every face.

Every run fits its modality's classical reference model (:mod:`konstrukt.reference`) on the same
examples and folds. :func:`baseline_verdict` says whether the model is **better**, **about the
same** or **worse**, with the uncertainty a few small folds leave: a difference is only called
one when it is larger than the fold-to-fold spread of the difference. The CLI, ``summary.md``,
the model card, the leaderboard and the web app all show its ``text``; none words it again.

The rule, on cross-validated accuracy (preferred: it is what the model is chosen by):

* same folds (equal fingerprints): the per-fold differences ``d`` are paired; the uncertainty is
  their standard deviation (one fold std — the width ``compare``'s recommendation uses too);
* other folds: the two fold standard deviations combined, ``sqrt(s_model² + s_reference²)``;
* only a test split: the binomial standard errors of the two accuracies combined.

The uncertainty is never below one example's worth (``1 / examples scored``), so a single example
never makes a model "better"; equal scores (100 % vs 100 %) are "about the same".
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

BETTER, SAME, WORSE = "better", "about the same", "worse"
PERFECT = 0.99  # both at or above this: the task is easy for a simple model too


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _cv_scores(part: dict | None) -> tuple[list[float], int] | None:
    """(per-fold accuracies, examples scored) of a CV summary, or None."""
    folds = (part or {}).get("per_fold") or []
    if not folds:
        return None
    return [float(f["accuracy"]) for f in folds], sum(int(f.get("n") or 0) for f in folds)


def difference(mine: dict, ref: dict) -> dict | None:
    """Mean difference (model − reference), its uncertainty and what was measured, or None.

    ``mine`` / ``ref``: report-like dicts with ``cv`` (a CV summary with ``per_fold``) and/or
    ``test`` (metrics with ``accuracy`` and ``n``).
    """
    a, b = _cv_scores(mine.get("cv")), _cv_scores(ref.get("cv"))
    if a and b:
        (sa, na), (sb, nb) = a, b
        fp_a, fp_b = mine["cv"].get("folds_fingerprint"), ref["cv"].get("folds_fingerprint")
        paired = len(sa) == len(sb) and fp_a is not None and fp_a == fp_b
        if paired:
            unc = float(np.std(np.subtract(sa, sb)))
        else:
            unc = math.hypot(float(np.std(sa)), float(np.std(sb)))
        n = max(na, nb)
        return {"measure": f"{len(sa)}-fold cross-validated accuracy", "model": float(np.mean(sa)),
                "reference": float(np.mean(sb)), "uncertainty": max(unc, 1 / n if n else 0.0),
                "paired": paired, "folds": len(sa)}
    t, r = mine.get("test") or {}, ref.get("test") or {}
    if t.get("accuracy") is None or r.get("accuracy") is None:
        return None
    n = max(int(t.get("n") or 0), 1)
    pa, pb = float(t["accuracy"]), float(r["accuracy"])
    unc = math.sqrt(pa * (1 - pa) / n + pb * (1 - pb) / n)
    return {"measure": "test accuracy", "model": pa, "reference": pb, "uncertainty": max(unc, 1 / n),
            "paired": True, "folds": None}


def baseline_verdict(mine: dict, ref: dict | None, *, subject: str = "The model",
                     advice: Sequence[str] = ()) -> dict | None:
    """``{"verdict": better | about the same | worse, "text", …}`` for ``mine`` against ``ref``.

    ``ref``: the run's ``reference`` record (``description``, ``cv``, ``test``); None → None.
    ``advice``: what may help on this task, on this machine (only things that exist: the caller
    knows which pipelines are available); shown unless the model is better or both are perfect.
    """
    if not ref:
        return None
    d = difference(mine, ref)
    if d is None:
        return None
    gap, unc = d["model"] - d["reference"], d["uncertainty"]
    verdict = BETTER if gap > unc else WORSE if gap < -unc else SAME
    figures = f"{_pct(d['model'])} vs {_pct(d['reference'])} {d['measure']}"
    spread = (f"the difference ({100 * gap:+.1f} points) is within what "
              + (f"{d['folds']} folds" if d["folds"] else "a test split") + " of this data can tell apart "
              f"(± {100 * unc:.1f})")
    peer = f"a simple baseline ({ref['description']}) trained on the same examples"
    if verdict == BETTER:
        text = f"{subject} is better than {peer}: {figures}."
    elif verdict == WORSE:
        text = f"{subject} is worse than {peer}: {figures}."
    else:
        text = f"{subject} is about as good as {peer}: {figures}; {spread}."
    both_perfect = min(d["model"], d["reference"]) >= PERFECT
    if both_perfect:
        text += " Both get (nearly) every example right: this task is easy even for a simple model."
    elif verdict != BETTER and advice:
        text += " What may help: " + "; ".join(advice) + "."
    return {"verdict": verdict, "text": text, "model": d["model"], "reference": d["reference"],
            "difference": gap, "uncertainty": unc, "measure": d["measure"], "paired": d["paired"]}


def verdict_text(baseline) -> str | None:
    """The text of a stored verdict (a dict; runs written before it was structured hold a str)."""
    if isinstance(baseline, dict):
        return baseline.get("text")
    return baseline or None


def verdict_record(baseline) -> dict | None:
    """A stored verdict as a record for the faces: runs written before it was structured hold only
    its text (``verdict`` None then)."""
    if isinstance(baseline, dict):
        return baseline
    return {"verdict": None, "text": baseline} if baseline else None
