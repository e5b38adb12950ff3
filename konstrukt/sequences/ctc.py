"""CTC decoding: per-frame log-probabilities (T, V) → token ids, greedy or by prefix beam search.

Self-contained (numpy only, no konstrukt import): exported bundles can carry this file verbatim,
so a bundle decodes to the same strings as konstrukt. Index 0 is the CTC blank.

* :func:`greedy_decode` — best token per frame, repeats merged, blanks dropped;
* :func:`beam_decode` — CTC prefix beam search (Hannun et al. 2014): keeps the ``beam`` most
  likely prefixes, each with its probability of ending in a blank and in a non-blank, so that
  paths which collapse to the same text add up (greedy follows one path and misses that);
* ``scorer`` (the character LM / lexicon hook): ``scorer(prefix, token) -> log weight`` added when
  ``prefix`` (a tuple of ids) grows by ``token``; ``-inf`` forbids it (a lexicon), a log-probability
  scaled by a weight makes it a language model. None: acoustic scores only.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

BLANK = 0
Scorer = Callable[[tuple, int], float]


def _logadd(*xs: float) -> float:
    top = max(xs)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in xs))


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """A frame path → its text ids: merge runs of the same id, then drop blanks."""
    out, prev = [], None
    for t in path:
        t = int(t)
        if t != prev and t != blank:
            out.append(t)
        prev = t
    return out


def greedy_decode(log_probs: np.ndarray, blank: int = BLANK) -> tuple[list[int], float]:
    """(T, V) log-probabilities → (ids, confidence): the best id per frame, collapsed.

    confidence: the geometric mean over frames of the chosen frame probabilities (0..1; 1 when
    the model is sure of every frame), so that long and short recordings compare.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.shape[0] == 0:
        return [], 0.0
    best = log_probs.argmax(axis=1)
    score = float(log_probs[np.arange(len(best)), best].mean())
    return collapse(best.tolist(), blank), math.exp(score)


def beam_decode(log_probs: np.ndarray, beam: int = 8, blank: int = BLANK,
                scorer: Optional[Scorer] = None, prune: float = -12.0) -> tuple[list[int], float]:
    """(T, V) log-probabilities → (ids, confidence) by CTC prefix beam search.

    ``prune``: tokens whose frame log-probability is below it are not tried at that frame (speed;
    -12 ≈ a probability of 6e-6). confidence: exp(log P(text) / T), comparable with greedy's.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    steps, vocab = log_probs.shape
    if steps == 0:
        return [], 0.0
    # prefix → (log P ending in blank, log P ending in non-blank, LM score so far)
    beams: dict[tuple, tuple[float, float, float]] = {(): (0.0, -math.inf, 0.0)}
    for t in range(steps):
        row = log_probs[t]
        tokens = [v for v in range(vocab) if row[v] >= prune or v == blank]
        nxt: dict[tuple, list[float]] = {}

        def add(prefix, pb, pnb, lm):
            cur = nxt.setdefault(prefix, [-math.inf, -math.inf, lm])
            cur[0], cur[1] = _logadd(cur[0], pb), _logadd(cur[1], pnb)

        for prefix, (pb, pnb, lm) in beams.items():
            last = prefix[-1] if prefix else None
            add(prefix, _logadd(pb, pnb) + row[blank], -math.inf, lm)  # a blank: same text
            for v in tokens:
                if v == blank:
                    continue
                p = row[v]
                if v == last:
                    add(prefix, -math.inf, pnb + p, lm)  # the same token again, merged
                    extend = pb + p  # a new token after a blank
                else:
                    extend = _logadd(pb, pnb) + p
                bonus = scorer(prefix, v) if scorer is not None else 0.0
                if bonus == -math.inf:
                    continue
                add(prefix + (v,), -math.inf, extend + bonus, lm + bonus)
        ranked = sorted(nxt.items(), key=lambda kv: _logadd(kv[1][0], kv[1][1]), reverse=True)
        beams = {k: (v[0], v[1], v[2]) for k, v in ranked[:beam]}
    best, (pb, pnb, lm) = max(beams.items(), key=lambda kv: _logadd(kv[1][0], kv[1][1]))
    acoustic = _logadd(pb, pnb) - lm  # the text's probability under the model alone
    return list(best), math.exp(acoustic / steps)


def decode(log_probs: np.ndarray, beam: int = 1, scorer: Optional[Scorer] = None) -> tuple[list[int], float]:
    """Greedy when ``beam`` is 1 and there is no scorer, else prefix beam search."""
    if beam <= 1 and scorer is None:
        return greedy_decode(log_probs)
    return beam_decode(log_probs, beam=max(beam, 1), scorer=scorer)


def path_log_prob(log_probs: np.ndarray, ids: Sequence[int], blank: int = BLANK) -> float:
    """log P(ids | frames) summed over every frame path that collapses to ``ids`` (the CTC forward
    algorithm; what :func:`beam_decode` ranks by, and what tests check it against)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    ext = [blank]
    for i in ids:
        ext += [int(i), blank]
    alpha = np.full(len(ext), -math.inf)
    alpha[0] = log_probs[0, blank]
    if len(ext) > 1:
        alpha[1] = log_probs[0, ext[1]]
    for t in range(1, log_probs.shape[0]):
        new = np.full(len(ext), -math.inf)
        for s, tok in enumerate(ext):
            terms = [alpha[s]] + ([alpha[s - 1]] if s >= 1 else [])
            if s >= 2 and tok != blank and tok != ext[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = _logadd(*terms) + log_probs[t, tok]
        alpha = new
    return _logadd(alpha[-1], alpha[-2]) if len(ext) > 1 else float(alpha[-1])
