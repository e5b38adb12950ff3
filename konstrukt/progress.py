"""Progress reporting shared by every face: tqdm bars for people, event dicts for programs.

Events are dicts with ``stage`` (prepare | warning | embed | train | cv | evaluate | done) and, where they
apply, ``fold``/``folds``, ``epoch``/``epochs``, ``train_loss``, ``val_loss``, ``val_accuracy``
and a human ``message``. ``not_run`` says a pipeline of a comparison was skipped or failed
(``status``). A ``plan`` event says how many fits (final model + CV folds) a
pipeline makes. :func:`with_overall` adds the whole job's ``overall`` fraction, ``elapsed_seconds``
and ``eta_seconds`` to every event. The service forwards them to the browser as Server-Sent Events.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from tqdm.auto import tqdm

ProgressCallback = Callable[[dict], None]


class Progress:
    def __init__(self, callback: ProgressCallback | None = None, verbose: bool = True,
                 said: set[str] | None = None, echo: bool = True):
        self.callback = callback
        self.verbose = verbose
        # Warnings already given: a compare's pipelines share one set, so each warning shows once.
        self.said = set() if said is None else said
        self.echo = echo  # False: warnings travel as events only (a forked child's parent prints them)

    def event(self, stage: str, message: str = "", **fields) -> None:
        if self.callback:
            self.callback({"stage": stage, "message": message, **fields})

    def say(self, message: str) -> None:
        """A line for people (stderr, so --json output on stdout stays clean)."""
        if self.verbose:
            tqdm.write(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        """A warning people must see even with progress output turned off (once)."""
        if message in self.said:
            return
        self.said.add(message)
        if self.echo:
            tqdm.write(f"warning: {message}", file=sys.stderr)
        self.event("warning", message)

    def bar(self, total: int, desc: str, unit: str = "it") -> tqdm:
        # disable=None: bars only on a terminal, so logs and CI output stay readable.
        return tqdm(total=total, desc=desc, unit=unit, disable=None if self.verbose else True, leave=False,
                    file=sys.stderr, dynamic_ncols=True)


class Overall:
    """One overall progress for a whole job, with an estimate of the time left.

    A job is pipelines (one for ``train``, several for ``compare`` or ``auto``'s contest); a
    pipeline is an embedding pass (frozen backbones) and its fits: the final model and one per CV
    fold (the ``plan`` event says how many). Every fit counts the same, the embedding pass as one
    fit; within a fit, epochs count. The fraction never goes back, so a bar driven by it does not
    restart for every fold, and the time left is the time so far scaled by what is left.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started: float | None = None
        self.pipelines: dict[str, dict] = {}  # per pipeline: fits planned, fraction per fit, embedding
        self.expected = 1  # pipelines the job runs (compare: total; auto: candidates)
        self.current = ""  # auto's candidates run one after another: events carry no name
        self.fraction = 0.0

    def update(self, event: dict) -> dict:
        """``event`` with ``overall`` (0–1), ``elapsed_seconds`` and ``eta_seconds`` (None while
        too little is done to tell) added."""
        now = self.clock()
        self.started = now if self.started is None else self.started
        stage = event.get("stage")
        if stage == "auto":
            self.current = str(event.get("candidate") or "")
            self.expected = max(self.expected, int(event.get("candidates") or 1))
        self.expected = max(self.expected, int(event.get("pipelines") or 1))  # compare's events say
        if stage in ("plan", "embed", "train", "cv", "not_run"):
            self._advance(self.pipelines.setdefault(str(event.get("pipeline") or self.current),
                                                    {"fits": None, "fit": {}, "embed": None, "skipped": False}), event)
        fraction = 1.0 if stage == "done" else sum(map(_pipeline_fraction, self.pipelines.values())) / max(
            self.expected, len(self.pipelines))
        self.fraction = max(self.fraction, min(fraction, 1.0))
        elapsed = now - self.started
        eta = None
        if self.fraction >= 1.0:
            eta = 0.0
        elif self.fraction >= 0.02 and elapsed >= 2:
            eta = elapsed * (1 - self.fraction) / self.fraction
        return {**event, "overall": round(self.fraction, 4), "elapsed_seconds": round(elapsed, 1),
                "eta_seconds": None if eta is None else round(eta, 1)}

    @staticmethod
    def _advance(state: dict, event: dict) -> None:
        stage = event["stage"]
        if stage == "not_run":  # a pipeline skipped or failed: as good as done
            state["skipped"] = True
        elif stage == "plan":
            state["fits"] = int(event.get("fits") or 1)
        elif stage == "embed" and event.get("total"):
            state["embed"] = event["done"] / event["total"]
        elif stage in ("train", "cv") and event.get("epochs"):
            state["fit"][int(event.get("fold") or 0)] = min(1.0, event.get("epoch", 0) / event["epochs"])


def _pipeline_fraction(state: dict) -> float:
    """How far one pipeline is: its embedding pass and fits, each one unit."""
    if state["skipped"]:
        return 1.0
    fits = state["fits"] or max(1, len(state["fit"]))
    units = fits + (state["embed"] is not None)
    done = sum(state["fit"].values()) + (state["embed"] or 0.0)
    return min(done / units, 1.0)


def with_overall(callback: ProgressCallback | None) -> ProgressCallback | None:
    """``callback`` receiving every event with the job's overall progress added (see :class:`Overall`)."""
    if callback is None:
        return None
    overall = Overall()
    return lambda event: callback(overall.update(event))
