"""Cross-validation folds side by side on this machine's cores, one forked process each.

A model trained on a CPU uses its cores poorly at small-data sizes: one image's augmentation is
single-threaded, and the small convolutions of a scratch model gain little from a second thread.
The folds are independent, so each is fitted in a process forked from this one (it inherits the
decoded data, the split and the memo of embeddings without copying them) on one thread; a shared
semaphore lets at most one fit per core run at a time. Where the number of epochs is known before
the final fit (no validation split: the fixed schedule), the folds start *before* it and the final
model trains here meanwhile, holding one of the slots: 3 folds and the final fit take two rounds
on two cores instead of four fits one after another.

Only where it is safe and useful: Linux (fork), the CPU (a CUDA context does not survive a fork),
at least two cores and two folds, and fits that train (a head on cached embeddings takes
milliseconds: those folds stay one after another here). A child sends its fold's start, about ten
of its epochs (for the job's overall progress; not drawn as bars, which would draw over each
other), any warning, and its result (plain data: :class:`FoldResult`). A cancel (a BaseException
from a progress callback) or any error here stops every child.
"""
from __future__ import annotations

import os
import pickle
import sys
import traceback
from multiprocessing import connection, get_context
from typing import Any

from ..errors import RunError
from ..models.data_fit import is_data_fitted
from ..progress import Progress
from ..recipe import Recipe
from ..runtime import cores
from . import children
from .folds import FoldResult, fit_fold

CHILD_EVENTS = ("cv",)  # the fold's "fold n/k" line and some of its epochs (see above)
EPOCH_EVENTS = 10  # at most ~this many epoch events a fold: they wait in the pipe while this process fits


def useful(recipe: Recipe, folds: list) -> bool:
    """Whether ``folds`` of ``recipe`` are worth fitting in forked processes."""
    trains = not recipe.probe or is_data_fitted(recipe.p.initial_backbone)
    in_ray_task = bool(os.environ.get("KONSTRUKT_NUM_THREADS"))  # the cluster spreads the work there
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and cores() >= 2
            and len(folds) >= 2 and recipe.p.device.type == "cpu" and trains and not in_ray_task
            and os.environ.get("KONSTRUKT_FORKED_FOLDS", "1") != "0")


class ForkedFolds:
    """Folds being fitted in forked processes; :meth:`results` waits for them, in fold order."""

    def __init__(self, recipe: Recipe, pool: list[int], folds: list[tuple[list[int], list[int]]],
                 epochs: int, parent_fits: bool):
        self.recipe, self.epochs, self.k = recipe, epochs, len(folds)
        ctx = get_context("fork")
        self.slots = ctx.BoundedSemaphore(cores())
        self.parent_holds = False
        if parent_fits:  # this process trains the final model meanwhile: one slot is its own
            self.slots.acquire()
            self.parent_holds = True
        self.children: dict[int, tuple[Any, Any]] = {}
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            for n, (train, held_out) in enumerate(folds, start=1):
                receive, send = ctx.Pipe(duplex=False)
                child = ctx.Process(target=_child, args=(recipe, pool, train, held_out, n, self.k, epochs,
                                                         self.slots, send, os.getpid()),
                                    name=f"konstrukt-fold-{n}", daemon=True)
                child.start()
                send.close()  # the child's end; EOF here once the child is gone
                self.children[n] = (child, receive)
        except BaseException:
            self.stop()
            raise

    def parent_done(self) -> None:
        """The final fit here has ended: its slot goes to the folds."""
        if self.parent_holds:
            self.parent_holds = False
            self.slots.release()

    def results(self) -> list[FoldResult]:
        """Every fold's result, in fold order (relaying their events); stops the children on the
        way out. A fold that fails raises :class:`RunError` with its reason."""
        self.parent_done()
        progress = self.recipe.progress
        done: dict[int, FoldResult] = {}
        try:
            while len(done) < self.k:
                waiting = {receive: n for n, (_, receive) in self.children.items() if n not in done}
                for receive in connection.wait(list(waiting), timeout=1.0):
                    n = waiting[receive]
                    try:
                        kind, payload = pickle.loads(receive.recv_bytes())
                    except (EOFError, OSError):  # died without a word (killed, out of memory)
                        child = self.children[n][0]
                        child.join()
                        raise RunError(f"cross-validation fold {n}/{self.k}: the process training it "
                                       f"stopped (exit code {child.exitcode})") from None
                    if kind == "result":
                        done[n] = payload
                    elif kind == "error":
                        raise RunError(f"cross-validation fold {n}/{self.k}: {payload}")
                    else:
                        children.relay(progress, payload)
        finally:
            self.stop()
        return [done[n] for n in sorted(done)]

    def stop(self) -> None:
        """End every child (at once, whatever it is doing) and close the pipes."""
        self.parent_done()
        children.end(self.children.values())
        self.children = {}


def _child(recipe: Recipe, pool, train, held_out, n: int, k: int, epochs: int, slots, send,
           parent: int) -> None:
    """In the forked process: wait for a free core, fit fold ``n``, send its result."""
    import torch

    children.become_child(parent)

    def post(message: tuple) -> None:
        children.send(send, message)

    def relay(event: dict) -> None:
        if event.get("stage") == "warning":
            post(("event", event))
        elif event.get("stage") in CHILD_EVENTS:
            epoch, epochs = event.get("epoch"), event.get("epochs") or 1
            # a few epochs a fold (the job's overall progress counts them), never a pipe-full
            if epoch is None or epoch == epochs or epoch % max(1, epochs // EPOCH_EVENTS) == 0:
                post(("event", event))

    recipe.progress = Progress(relay, verbose=False, said=recipe.progress.said, echo=False)
    recipe.config = recipe.config.model_copy(update={"num_workers": 0})  # the cores are the folds'
    try:
        with slots:
            torch.set_num_threads(1)
            post(("result", fit_fold(recipe, pool, train, held_out, n, k, epochs)))
    except BaseException as exc:  # noqa: BLE001 — the parent reports it as the run's error
        traceback.print_exc()
        post(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        send.close()


def run_folds_forked(recipe: Recipe, pool: list[int], folds: list[tuple[list[int], list[int]]],
                     epochs: int) -> list[FoldResult]:
    """A fold runner (see :mod:`.folds`): the folds in forked processes, one per core at a time."""
    return ForkedFolds(recipe, pool, folds, epochs, parent_fits=False).results()

