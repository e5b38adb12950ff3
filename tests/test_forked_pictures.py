"""A run's pictures are drawn in a forked process while its folds run (execution.forked_pictures)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image

import konstrukt
from konstrukt.execution import forked_pictures
from konstrukt.runtime import cores

pytestmark = pytest.mark.skipif(not forked_pictures.sys.platform.startswith("linux") or cores() < 2,
                                reason="pictures drawn ahead need Linux and two cores")

OPTS = {"pretrained": "none", "image_size": 16, "batch_size": 8, "num_epochs": 2, "target_size": 8, "cv": 3}
HISTORY = [{"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": None, "val_accuracy": None}]


def spy_moves(monkeypatch) -> list:
    moved, move = [], forked_pictures.PicturesAhead.move_into

    def spy(self, folder, what):
        moved.append(move(self, folder, what))
        return moved[-1]

    monkeypatch.setattr(forked_pictures.PicturesAhead, "move_into", spy)
    return moved


def leftovers() -> set:
    return set(Path(tempfile.gettempdir()).glob("konstrukt-pictures-*"))


def test_the_pictures_drawn_while_the_folds_ran_are_the_runs(image_data, tmp_path, monkeypatch):
    moved, before = spy_moves(monkeypatch), leftovers()
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    assert moved == [True]
    for name in ("curves.png", "confusion_matrix.png"):
        assert Image.open(run.path / name).size[0] > 300
    assert leftovers() == before  # the child's folder is gone


def test_pictures_of_another_report_are_not_used(tmp_path):
    drawn = ([*HISTORY], 1, [[2, 0], [1, 1]], ["a", "b"], "test split")
    pictures = forked_pictures.PicturesAhead(drawn)
    now = ([*HISTORY], 1, [[2, 0], [0, 2]], ["a", "b"], "test split")  # another confusion matrix
    assert pictures.move_into(tmp_path, now) is False
    assert not (tmp_path / "confusion_matrix.png").exists()
    assert not Path(pictures._dir.name).exists()
    kept = forked_pictures.PicturesAhead(drawn)
    assert kept.move_into(tmp_path, drawn) is True and (tmp_path / "curves.png").exists()
    left = forked_pictures.PicturesAhead(drawn)
    left.discard()  # a candidate auto did not keep
    assert not Path(left._dir.name).exists()


def test_a_failing_picture_process_leaves_the_drawing_to_the_run(image_data, tmp_path, monkeypatch):
    parent, draw = os.getpid(), forked_pictures.draw

    def fails_in_the_child(what, folder):
        if os.getpid() != parent:
            raise RuntimeError("no fonts in the child")
        draw(what, folder)

    monkeypatch.setattr(forked_pictures, "draw", fails_in_the_child)
    moved = spy_moves(monkeypatch)
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    assert moved == [False]
    assert (run.path / "curves.png").exists() and (run.path / "confusion_matrix.png").exists()


def test_write_run_draws_the_pictures_itself_without_a_child(image_data, tmp_path, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_FORKED_PICTURES", "0")
    moved = spy_moves(monkeypatch)
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    assert moved == []
    assert (run.path / "curves.png").exists() and (run.path / "confusion_matrix.png").exists()
