"""Progress reporting shared by every face: tqdm bars for people, event dicts for programs.

Events are dicts with ``stage`` (prepare | warning | embed | train | cv | evaluate | done) and, where they
apply, ``fold``/``folds``, ``epoch``/``epochs``, ``train_loss``, ``val_loss``, ``val_accuracy``
and a human ``message``. The service forwards them to the browser as Server-Sent Events.
"""
from __future__ import annotations

import sys
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
