"""CV folds fitted in forked processes beside the final fit (konstrukt.execution.forked_folds)."""
from __future__ import annotations

import multiprocessing
import os

import numpy as np
import pytest

import konstrukt
from tests.conftest import SIGNAL_FAST
from konstrukt import experiment
from konstrukt.errors import KonstruktError
from konstrukt.execution import forked_folds
from konstrukt.execution.folds import run_folds
from konstrukt.execution.runners import Runners
from konstrukt.runtime import cores

pytestmark = pytest.mark.skipif(not forked_folds.sys.platform.startswith("linux") or cores() < 2,
                                reason="forked folds need Linux and two cores")

# no validation split: the fixed schedule, so the folds start before the final fit
OVERRIDES = {**SIGNAL_FAST, "num_epochs": 2, "cv": 3, "split": {"val": 0.0, "test": 0.17},
             "signal": {**SIGNAL_FAST["signal"], "sample_rate": 100, "layout": "channels_first"}}


@pytest.fixture
def signals(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("low", "high"):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(6):
            x = rng.normal(0, 1, (2, 50)) + (3.0 if c == "high" else 0.0)
            np.save(tmp_path / "d" / c / f"{c}{i}.npy", x.astype(np.float32))
    return tmp_path / "d"


def spy_fits(monkeypatch) -> list:
    """Fold fits that run in this process (a forked child's calls are not seen here)."""
    seen = []
    fit = experiment.Recipe.fit

    def spy(self, train_idx, val_idx, *args, **kwargs):
        seen.append(kwargs.get("fold"))
        return fit(self, train_idx, val_idx, *args, **kwargs)

    monkeypatch.setattr(experiment.Recipe, "fit", spy)
    return seen


def test_folds_fitted_in_forked_processes_score_as_the_folds_fitted_here(signals, tmp_path, monkeypatch):
    seen, events = spy_fits(monkeypatch), []
    forked = konstrukt.train(signals, task="signal", pipeline="rescnn", out=tmp_path / "a", verbose=False,
                             progress=events.append, overrides=OVERRIDES).report["cv"]
    assert seen == [None]  # only the final fit ran here: the three folds ran in their processes
    # each fold's last epoch reaches this process: the job's overall progress counts the folds
    assert {e["fold"] for e in events if e["stage"] == "cv" and e.get("epoch") == e.get("epochs") == 2} == {1, 2, 3}
    before_done = events[:next(i for i, e in enumerate(events) if e["stage"] == "done")]
    assert max(e["overall"] for e in before_done) > 0.99
    seen.clear()
    here = konstrukt.train(signals, task="signal", pipeline="rescnn", out=tmp_path / "b", verbose=False,
                           runners=Runners(folds=run_folds), overrides=OVERRIDES).report["cv"]
    assert seen == [None, 1, 2, 3]
    assert forked["folds"] == here["folds"] == 3 and forked["folds_fingerprint"] == here["folds_fingerprint"]
    assert forked["accuracy_mean"] == pytest.approx(here["accuracy_mean"])
    assert forked["accuracy_std"] == pytest.approx(here["accuracy_std"])
    assert not multiprocessing.active_children()


def test_a_fold_that_fails_in_its_process_fails_the_run_naming_the_fold(signals, tmp_path, monkeypatch):
    def broken(recipe, pool, train, held_out, n, k, epochs):
        if n == 2:
            raise ValueError("the fold broke")
        return run_folds_one(recipe, pool, train, held_out, n, k, epochs)

    run_folds_one = forked_folds.fit_fold
    monkeypatch.setattr(forked_folds, "fit_fold", broken)  # inherited by the forked children
    with pytest.raises(KonstruktError, match=r"fold 2/3: ValueError: the fold broke"):
        konstrukt.train(signals, task="signal", pipeline="rescnn", out=tmp_path / "run", verbose=False,
                        overrides=OVERRIDES)
    assert not multiprocessing.active_children()


def test_a_fold_process_that_dies_fails_the_run_and_leaves_no_process_behind(signals, tmp_path, monkeypatch):
    def killed(recipe, pool, train, held_out, n, k, epochs):
        os._exit(9)  # as the kernel's out-of-memory killer would leave it: no word sent

    monkeypatch.setattr(forked_folds, "fit_fold", killed)
    with pytest.raises(KonstruktError, match=r"fold \d/3: the process training it stopped \(exit code 9\)"):
        konstrukt.train(signals, task="signal", pipeline="rescnn", out=tmp_path / "run", verbose=False,
                        overrides=OVERRIDES)
    assert not multiprocessing.active_children()


def test_a_cancel_during_the_final_fit_stops_the_folds(signals, tmp_path):
    class Cancelled(BaseException):
        pass

    def progress(event):
        if event.get("stage") == "train" and event.get("epoch") == 1:
            raise Cancelled  # what the service's cancel does: an exception from the callback

    with pytest.raises(Cancelled):
        konstrukt.train(signals, task="signal", pipeline="rescnn", out=tmp_path / "run", verbose=False,
                        progress=progress, overrides=OVERRIDES)
    assert not multiprocessing.active_children()


def test_heads_on_cached_embeddings_and_ray_tasks_keep_their_folds_here(monkeypatch):
    class P:
        device = type("D", (), {"type": "cpu"})()
        initial_backbone = object()

    class R:
        probe, p = True, P()

    assert not forked_folds.useful(R(), [([0], [1])] * 3)  # milliseconds each: not worth a process
    R.probe = False
    assert forked_folds.useful(R(), [([0], [1])] * 3)
    assert not forked_folds.useful(R(), [([0], [1])])  # one fold: nothing side by side
    monkeypatch.setenv("KONSTRUKT_NUM_THREADS", "2")  # a Ray task (ray_executor.run_job)
    assert not forked_folds.useful(R(), [([0], [1])] * 3)
