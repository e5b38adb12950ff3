"""A run's pictures drawn in a forked process while this one cross-validates.

The curves and the confusion matrix depend only on the final fit's history and its scored split,
which are known before the CV folds, the reference model and the data-health review run. Importing
matplotlib and drawing took ~0.45 s of a first model's ~6 s (bench/first_model.py); a forked process
does it on the other core meanwhile, into a folder of its own, and :func:`artifacts.write_run` moves
the files into the run — or draws them itself when the report it writes is not what was drawn, or
the child failed.

Only where it is safe and useful (as :mod:`.forked_folds`): Linux (fork), the CPU, at least two
cores, not inside a Ray task.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import traceback
from multiprocessing import get_context
from pathlib import Path

from ..runtime import cores
from . import children

CURVES, CONFUSION = "curves.png", "confusion_matrix.png"


def drawn_from(report: dict, classes: list[str]) -> tuple:
    """What the pictures of ``report`` show: history, kept epoch, the scored split's matrix."""
    scored = report.get("test") or report.get("val")
    return (report["history"], report.get("best_epoch"),
            scored["confusion_matrix"] if scored else None, list(classes),
            "test split" if report.get("test") else "validation split")


def draw(what: tuple, folder: Path) -> None:
    """Draw the pictures of :func:`drawn_from`'s ``what`` into ``folder``."""
    from ..plots import plot_confusion, plot_curves  # matplotlib: only when drawing (import seconds)

    history, best_epoch, matrix, classes, title = what
    plot_curves(history, folder / CURVES, best_epoch)
    if matrix is not None:
        plot_confusion(matrix, classes, folder / CONFUSION, title)


def useful(device) -> bool:
    in_ray_task = bool(os.environ.get("KONSTRUKT_NUM_THREADS"))
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and cores() >= 2
            and device.type == "cpu" and not in_ray_task
            and os.environ.get("KONSTRUKT_FORKED_PICTURES", "1") != "0")


class PicturesAhead:
    """The pictures of one report, being drawn in a forked process."""

    def __init__(self, what: tuple):
        self.what = what
        self._dir = tempfile.TemporaryDirectory(prefix="konstrukt-pictures-")
        sys.stdout.flush()  # a forked copy of unwritten output would be written twice
        sys.stderr.flush()
        self.child = get_context("fork").Process(target=_child, args=(what, self._dir.name, os.getpid()),
                                                 name="konstrukt-pictures", daemon=True)
        self.child.start()

    def move_into(self, folder: Path, what: tuple) -> bool:
        """Wait for the pictures and move them into ``folder``; False (nothing moved) when they
        are not of ``what`` or the child failed."""
        self.child.join()
        try:
            if self.child.exitcode != 0 or what != self.what:
                return False
            for name in (CURVES, CONFUSION):
                if (Path(self._dir.name) / name).exists():
                    shutil.move(str(Path(self._dir.name) / name), str(Path(folder) / name))
            return True
        finally:
            self._dir.cleanup()

    def discard(self) -> None:
        """Pictures of a report that is not written (a candidate ``auto`` did not keep)."""
        self.child.join()
        self._dir.cleanup()

    def stop(self) -> None:
        """The run failed: end the drawing now and remove what it drew."""
        if self.child.is_alive():
            self.child.terminate()
        self.child.join()
        self._dir.cleanup()


def draw_ahead(report: dict, classes: list[str], device) -> PicturesAhead | None:
    """Start drawing ``report``'s pictures in a forked process, where :func:`useful`."""
    return PicturesAhead(drawn_from(report, classes)) if useful(device) else None


def _child(what: tuple, folder: str, parent: int) -> None:
    children.become_child(parent)
    try:
        draw(what, Path(folder))
    except BaseException:  # noqa: BLE001 — the parent draws them itself
        traceback.print_exc()
        sys.exit(1)
