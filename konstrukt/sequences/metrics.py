"""Sequence metrics: edit-distance alignment → CER / WER, exact-sequence accuracy, per-character
substitutions / insertions / deletions and the worst examples.

CER = (substitutions + insertions + deletions) / reference characters, summed over the examples
(the usual corpus-level definition, as jiwer and the speech literature compute it); WER the same
over space-separated words. A small dynamic program (Levenshtein with a back-trace) is enough for
the short texts here and needs no library.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence


def align(ref: Sequence, hyp: Sequence) -> list[tuple[str, object, object]]:
    """The cheapest edit script turning ``ref`` into ``hyp``: a list of (op, ref item, hyp item)
    with op one of ``=`` (match), ``S`` (substitution), ``D`` (deletion: ref item missing in hyp),
    ``I`` (insertion: hyp item not in ref); None stands for the missing side."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]),
                             cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    ops, i, j = [], n, m
    while i or j:  # back-trace; prefer match/substitution, then deletion, then insertion
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("=" if ref[i - 1] == hyp[j - 1] else "S", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            ops.append(("D", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("I", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions + insertions + deletions)."""
    return sum(op != "=" for op, _, _ in align(ref, hyp))


def error_rate(refs: list[Sequence], hyps: list[Sequence]) -> float:
    """Total edits / total reference length (1.0 per inserted item when every reference is empty)."""
    edits = sum(edit_distance(r, h) for r, h in zip(refs, hyps))
    total = sum(len(r) for r in refs)
    return edits / total if total else float(edits > 0)


def words(text: str) -> list[str]:
    return text.split()


def sequence_metrics(refs: list[str], hyps: list[str], files: list[str] | None = None,
                     tokens: str = "chars", worst: int = 5, confidences: list[float] | None = None) -> dict:
    """Every metric of a scored split. ``tokens``: ``chars`` (each character is a token) or
    ``space`` (space-separated tokens: CER over the characters, WER over the tokens)."""
    files = files or [""] * len(refs)
    units = [_units(t, tokens) for t in refs], [_units(t, tokens) for t in hyps]
    ops = Counter()
    per_char: dict[str, Counter] = {}
    rows = []
    for k, (r, h) in enumerate(zip(*units)):
        script = align(r, h)
        edits = sum(op != "=" for op, _, _ in script)
        for op, a, b in script:
            ops[op] += 1
            if op != "=":
                per_char.setdefault(str(a if a is not None else b), Counter())[op] += 1
        rows.append({"file": files[k], "text": refs[k], "decoded": hyps[k], "errors": edits,
                     "cer": round(edits / len(r), 4) if r else float(edits > 0),
                     **({"confidence": round(confidences[k], 4)} if confidences else {})})
    n_ref = sum(len(r) for r in units[0])
    out = {
        "n": len(refs), "tokens": tokens, "reference_units": n_ref,
        "cer": _round(error_rate(*units)),
        "exact_match": _round(sum(r == h for r, h in zip(*units)) / len(refs)) if refs else None,
        "substitutions": ops["S"], "insertions": ops["I"], "deletions": ops["D"],
        "per_character": {c: {"S": v["S"], "I": v["I"], "D": v["D"]}
                          for c, v in sorted(per_char.items()) if v["S"] + v["I"] + v["D"]},
        "worst": sorted(rows, key=lambda x: (-x["cer"], -x["errors"]))[:worst],
    }
    if tokens == "space":  # CER over the characters of the joined text, WER over the tokens
        out["wer"] = out["cer"]
        out["cer"] = _round(error_rate([" ".join(r) for r in units[0]], [" ".join(h) for h in units[1]]))
    return out


def _units(text: str, tokens: str) -> list[str]:
    return words(text) if tokens == "space" else list(text)


def _round(x: float) -> float:
    return round(float(x), 4)


def summarize_cv(folds: list[dict]) -> dict:
    """CV mean ± std of CER (and WER, exact match) over the folds' metrics."""
    import numpy as np

    out: dict = {"k": len(folds), "folds": folds}
    for key in ("cer", "wer", "exact_match"):
        vals = [f[key] for f in folds if f.get(key) is not None]
        if vals:
            out[f"{key}_mean"], out[f"{key}_std"] = _round(np.mean(vals)), _round(np.std(vals))
    return out
