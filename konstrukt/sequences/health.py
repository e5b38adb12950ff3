"""Data health of sequence data (recordings with their text), before any training.

What is counted: recordings (per subject when the CSV names subjects), their durations, the
texts' lengths and the alphabet. What is found, each finding naming its recordings: files that
cannot be read or have another channel count, the same bytes twice (with one text: a duplicate;
with two: a conflict), texts said by several recordings, tokens seen in one recording only (too
rare to learn, and unseen whenever that recording is held out), empty texts, durations far off
the median, too few recordings to split — and **texts too long for their recording at the model's
frame rate**: CTC needs an output frame per token (two for a repeated one), so those examples
cannot be aligned and training ignores them.

The result has the shape of :meth:`konstrukt.data.findings.HealthReport.to_dict` (``checked``,
``ok``, ``counts``, ``findings``…) plus ``stats``; ``konstrukt check TEXT.csv`` prints it and the
web service shows it for sequence projects.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from ..errors import KonstruktError
from .config import SequenceConfig
from .data import Alphabet

DURATION_RATIO = 4.0  # a duration this many times off the median is an outlier
MIN_RECORDINGS = 10  # fewer: the test and validation splits hold one or two recordings each


@dataclass
class Recording:
    """One example to check: how findings name it, its text, its subject (None: none given), the
    (C, T) array at the common rate (None: it could not be read, ``error`` says why), its sha256."""

    name: str
    text: str
    subject: str | None = None
    array: np.ndarray | None = None
    digest: str | None = None
    error: str | None = None


def read_recordings(items: list[tuple[str, Path, str, str | None, str | None]], task: str,
                    rate: float | None = None) -> tuple[list[Recording], float | None]:
    """(name, path, text, subject, digest) → :class:`Recording` s, each file read by the task's
    reader at one rate (``rate``, the modality's, else the first readable file's); a file that
    cannot be read is kept with its error."""
    from .dataset import hooks_of

    hooks = hooks_of(task)
    rate = rate or hooks.default_rate
    out = []
    for name, path, text, subject, digest in items:
        try:
            array, rate = hooks.read(path, rate)
            out.append(Recording(name, text, subject, array, digest))
        except KonstruktError as exc:
            out.append(Recording(name, text, subject, None, digest, exc.message.replace(str(path), name)))
        except Exception as exc:  # a decoder crashing on a hostile file is still that file's problem
            out.append(Recording(name, text, subject, None, digest, f"cannot be read ({type(exc).__name__})"))
    return out, rate


def _finding(kind, severity, message, samples, action="", detail=None) -> dict:
    return {"kind": kind, "severity": severity, "stage": "data", "message": message, "action": action,
            "detail": detail or {}, "samples": samples}


def _frame_model(task: str, channels: int, rate: float, settings: SequenceConfig, arrays, token_counts):
    """The network training would build (untrained): the front end ``auto`` picks, with its own
    defaults, sized by the texts as training sizes it; only its ``frames(T)`` is asked."""
    from .config import with_defaults
    from .dataset import hooks_of
    from .models import build_model

    hooks = hooks_of(task)
    name = hooks.resolve(settings.frontend)
    settings = with_defaults(settings, hooks.defaults.get(name)).model_copy(update={"frontend": name})
    model = build_model(hooks, channels, rate, 2, settings)
    if hasattr(model.frontend, "size_by"):  # a front end whose frame rate follows the texts
        model.frontend.size_by(arrays, token_counts)
    return model, settings


def check_recordings(recs: list[Recording], task: str, rate: float | None,
                     settings: SequenceConfig | None = None) -> dict[str, Any]:
    """Every check on ``recs`` (see the module docstring); ``settings`` decide the model whose frame
    rate the texts must fit (default: a default sequence run's)."""
    settings = settings or SequenceConfig(task=task)
    findings: list[dict] = []

    def ref(i: int, value: str | None = None) -> dict:
        r = recs[i]
        out = {"index": i, "file": r.name, "name": r.name, "label": "", "split": None, "text": r.text}
        return {**out, "value": value} if value else out

    bad = [i for i, r in enumerate(recs) if r.array is None]
    if bad:
        findings.append(_finding("unreadable", "error", f"{len(bad)} recording(s) cannot be read",
                                 [{**ref(i), "error": recs[i].error} for i in bad], "delete them or upload them again"))
    good = [i for i, r in enumerate(recs) if r.array is not None]
    channels = Counter(recs[i].array.shape[0] for i in good)
    common = channels.most_common(1)[0][0] if channels else 0
    if odd := [i for i in good if recs[i].array.shape[0] != common]:
        findings.append(_finding("channels", "error", f"{len(odd)} recording(s) have another channel count than "
                                 f"the others ({common})", [ref(i, f"{recs[i].array.shape[0]} channels") for i in odd],
                                 "record every file with the same sensors, or delete the odd ones"))
    good = [i for i in good if recs[i].array.shape[0] == common]
    _copies(recs, findings, ref)
    alphabet = Alphabet.from_texts([r.text for r in recs], settings.tokens)
    _texts(recs, findings, ref, alphabet)
    seconds = {i: recs[i].array.shape[1] / rate for i in good} if rate else {}
    _durations(seconds, findings, ref)
    fps = _too_long(recs, good, findings, ref, alphabet, task, common, rate, settings) if good and rate else None
    if len(recs) < MIN_RECORDINGS:
        findings.append(_finding("too_few", "warning", f"only {len(recs)} recordings: the validation and test "
                                 "splits hold one or two each, so their CER is a rough figure", [],
                                 f"add recordings (a few dozen at least; {MIN_RECORDINGS} is the least to split)"))
    lengths = [len(Alphabet.split(r.text, settings.tokens)) for r in recs]
    subjects = Counter(r.subject for r in recs if r.subject is not None)
    stats = {"recordings": len(recs), "subjects": dict(sorted(subjects.items())) or None,
             "channels": common or None, "sample_rate": rate, "tokens": settings.tokens,
             "duration_seconds": _spread(list(seconds.values())), "text_length": _spread(lengths),
             "alphabet": dict(sorted(Counter(u for r in recs for u in Alphabet.split(r.text, settings.tokens)).items())),
             "output_frames_per_second": fps}
    return {"checked": len(recs), "ok": not any(f["severity"] in ("error", "warning") for f in findings),
            "counts": dict(Counter(f["kind"] for f in findings)), "findings": findings,
            "removed_from_evaluation": {}, "warnings": [], "stats": stats}


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"min": round(min(values), 3), "median": round(float(median(values)), 3),
            "max": round(max(values), 3), "total": round(sum(values), 3)}


def _copies(recs, findings, ref) -> None:
    by_digest: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        if r.digest:
            by_digest.setdefault(r.digest, []).append(i)
    for group in (g for g in by_digest.values() if len(g) > 1):
        texts = sorted({recs[i].text for i in group})
        if len(texts) > 1:
            findings.append(_finding("label_conflict", "error", f"{len(group)} exact copies carry different texts "
                                     f"({', '.join(repr(t) for t in texts)})", [ref(i, repr(recs[i].text)) for i in group],
                                     "keep the copy with the right text and delete the others"))
        else:
            findings.append(_finding("exact_duplicate", "warning", f"{len(group)} exact copies of one recording "
                                     f"(text {texts[0]!r}): they count {len(group)} times in training",
                                     [ref(i) for i in group], "keep one and delete the others"))


def _texts(recs, findings, ref, alphabet: Alphabet) -> None:
    by_text: dict[str, list[int]] = {}
    for i, r in enumerate(recs):
        by_text.setdefault(r.text, []).append(i)
    shared = {t: g for t, g in by_text.items() if t and len(g) > 1 and len({recs[i].digest for i in g}) > 1}
    if shared:
        top = sorted(shared.items(), key=lambda kv: -len(kv[1]))
        findings.append(_finding(
            "duplicate_text", "info", f"{len(shared)} text(s) are said by more than one recording (e.g. "
            f"{top[0][0]!r} by {len(top[0][1])}): fine for repeated phrases; the model may learn those texts by "
            "heart", [ref(i, repr(recs[i].text)) for _, g in top[:10] for i in g][:50],
            "vary the texts if the model must read unseen ones", {"texts": {t: len(g) for t, g in top[:20]}}))
    if empty := by_text.get("", []):
        findings.append(_finding("empty_text", "info", f"{len(empty)} recording(s) have an empty text: they "
                                 "teach the model silence", [ref(i) for i in empty],
                                 "type their text if they say something"))
    seen_in: dict[str, set[int]] = {}
    for i, r in enumerate(recs):
        for u in Alphabet.split(r.text, alphabet.mode):
            seen_in.setdefault(u, set()).add(i)
    rare = sorted(u for u, where in seen_in.items() if len(where) == 1)
    if rare and len(recs) > 1:
        idx = sorted({i for u in rare for i in seen_in[u]})
        shown = ", ".join(repr(u) for u in rare[:20])
        findings.append(_finding(
            "rare_token", "warning", f"{len(rare)} token(s) appear in one recording only ({shown}): too rare to "
            "learn, and never seen in training when that recording is held out", [ref(i) for i in idx],
            "add recordings that contain them, or leave them out of the texts", {"tokens": rare}))


def _durations(seconds: dict[int, float], findings, ref) -> None:
    if len(seconds) < 4:
        return
    mid = float(median(seconds.values()))
    odd = [i for i, s in seconds.items() if mid > 0 and (s > DURATION_RATIO * mid or s < mid / DURATION_RATIO)]
    if odd:
        findings.append(_finding("outlier", "warning", f"{len(odd)} recording(s) are much longer or shorter than "
                                 f"the median of {mid:.2f} s", [ref(i, f"{seconds[i]:.2f} s") for i in odd],
                                 "check they are whole recordings of one text each"))


def _too_long(recs, good, findings, ref, alphabet, task, channels, rate, settings) -> float | None:
    """Texts needing more output frames than the model gives their recording (one per token, one
    more between repeated tokens): CTC cannot align them. Returns the output frames per second."""
    ids_of = {i: alphabet.encode(recs[i].text)[0] for i in good}
    model, settings = _frame_model(task, channels, rate, settings, [recs[i].array for i in good],
                                   [len(ids_of[i]) for i in good])
    short = []
    for i in good:
        ids = ids_of[i]
        need = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
        have = model.frames(recs[i].array.shape[1])
        if need > have:
            short.append((i, need, have))
    fps = round(model.frontend.fps / 2 ** len(model.blocks), 2)  # each CNN block halves the front end's rate
    if short:
        findings.append(_finding(
            "text_too_long", "warning", f"{len(short)} recording(s) are too short for their text at the model's "
            f"frame rate (about {fps:g} output frames per second; {len(settings.widths)} CNN block(s), each "
            "halving it): CTC cannot align them and training ignores them",
            [ref(i, f"the text needs {need} frames, the recording gives {have}") for i, need, have in short],
            "use longer recordings or shorter texts, or fewer CNN blocks (`widths`, e.g. [64])",
            {"frames_per_second": fps, "widths": list(settings.widths)}))
    return fps


def check_text_csv(data: str | Path, settings: SequenceConfig) -> dict[str, Any]:
    """Check a sequence labels CSV as ``konstrukt train`` would read it (``settings``: the run's)."""
    from ..data.samples import file_digest
    from .data import read_text_csv
    from .dataset import guess_task, load

    layout, rows = read_text_csv(data)
    task = settings.task or guess_task([r.path if layout == "files" else r.file for r in rows])
    if layout != "files":  # windows of long recordings: their texts are the events inside them
        loaded = load(data, settings, task=task)
        recs = [Recording(f"{e.path.name}@{e.start:g}-{e.end:g}s", e.text, None if e.group == str(e.path) else e.group,
                          a) for e, a in zip(loaded.examples, loaded.arrays)]
        return check_recordings(recs, task, loaded.rate, settings.model_copy(update={"task": task}))
    items = [(r.path.name, r.path, r.text, None if r.group == str(r.path) else r.group, file_digest(r.path))
             for r in rows]
    recs, rate = read_recordings(items, task, settings.sample_rate)
    return check_recordings(recs, task, rate, settings.model_copy(update={"task": task}))


def stats_lines(stats: dict) -> list[str]:
    """What ``konstrukt check`` prints of the counts."""
    def spread(s, unit):
        return "–" if not s else f"{s['min']:g}–{s['max']:g}{unit} (median {s['median']:g}{unit})"

    lines = [f"{stats['recordings']} recordings, {stats['channels'] or '?'} channel(s) at {stats['sample_rate'] or '?'} Hz; "
             f"durations {spread(stats['duration_seconds'], ' s')}; texts {spread(stats['text_length'], '')} tokens"]
    if stats.get("subjects"):
        lines.append("recordings per subject: " + ", ".join(f"{s} {n}" for s, n in stats["subjects"].items()))
    alphabet = stats.get("alphabet") or {}
    lines.append(f"alphabet of {len(alphabet)} tokens: " + " ".join(f"{t!r}×{n}" for t, n in list(alphabet.items())[:40]))
    if stats.get("output_frames_per_second"):
        lines.append(f"the model gives about {stats['output_frames_per_second']:g} output frames per second")
    return lines
