"""A probe on photos embeds the originals in a forked process while this one imports and checks
(konstrukt.execution.forked_embedding, prepare.embed_originals_early); clean views are cached apart
from the augmentation settings."""
from __future__ import annotations

import time

import numpy as np
import pytest

import konstrukt
from konstrukt.embeddings import EmbeddingCache, default_cache_dir
from konstrukt.execution import forked_embedding
from konstrukt.modalities.image import augment
from konstrukt.runtime import cores

pytestmark = pytest.mark.skipif(not forked_embedding.sys.platform.startswith("linux") or cores() < 2,
                                reason="a forked embedding pass needs Linux and two cores")

OPTS = {"pretrained": "none", "image_size": 16, "batch_size": 8, "num_epochs": 2, "target_size": 8, "cv": 3}


def clean_files() -> dict:
    return {p: p.stat().st_mtime_ns for p in default_cache_dir().rglob("*_0.npy")}


def spy_flip_check(monkeypatch) -> list:
    """When the flip check (the first step that needs scikit-learn) starts: the cache's clean views then."""
    seen, check = [], augment.choose_hflip

    def spy(*args, **kwargs):
        seen.append((time.time_ns(), clean_files()))
        return check(*args, **kwargs)

    monkeypatch.setattr(augment, "choose_hflip", spy)
    return seen


def test_the_originals_are_embedded_before_the_flip_check_and_not_again(image_data, tmp_path, monkeypatch):
    seen = spy_flip_check(monkeypatch)
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    [(at, early)] = seen
    n = run.report["data"]["n"]
    assert len(early) == n  # every original's embedding was in the cache before the check ran
    assert clean_files() == early  # the run's own embedding pass read them: none was written again
    assert run.report["cv"]["folds"] == 3


def test_the_forked_pass_gives_the_embeddings_and_scores_of_the_pass_here(image_data, tmp_path, monkeypatch):
    forked = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    first = {p.name: np.load(p) for p in default_cache_dir().rglob("*_0.npy")}
    monkeypatch.setenv("KONSTRUKT_CACHE", str(tmp_path / "other-cache"))
    monkeypatch.setenv("KONSTRUKT_FORKED_EMBEDDING", "0")
    seen = spy_flip_check(monkeypatch)
    here = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "b", overrides=OPTS, verbose=False)
    assert seen[0][1] == {}  # turned off: nothing was embedded before the check
    second = {p.name: np.load(p) for p in default_cache_dir().rglob("*_0.npy")}
    assert first.keys() == second.keys()
    for name in first:  # one thread there, two here: the same numbers up to float rounding
        np.testing.assert_allclose(first[name], second[name], rtol=1e-4, atol=1e-5)
    assert forked.report["test"]["accuracy"] == here.report["test"]["accuracy"]
    assert forked.report["cv"]["accuracy_mean"] == here.report["cv"]["accuracy_mean"]


def test_a_failing_forked_pass_leaves_the_work_to_the_run(image_data, tmp_path, monkeypatch):
    import konstrukt.embeddings as embeddings

    def broken(*args, **kwargs):  # what the forked process calls; the run's own pass does not
        raise MemoryError("no room in the child")

    monkeypatch.setattr(embeddings, "embed_views", broken)
    seen = spy_flip_check(monkeypatch)
    run = konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=OPTS, verbose=False)
    assert seen[0][1] == {}  # the child computed nothing
    assert len(clean_files()) == run.report["data"]["n"]  # the run embedded them itself
    assert run.report["test"]["accuracy"] is not None


def test_clean_views_are_cached_apart_from_the_augmentation(image_data, tmp_path, monkeypatch):
    monkeypatch.setenv("KONSTRUKT_FORKED_EMBEDDING", "0")  # the cache layout alone
    opts = {**OPTS, "augment": {"hflip": 0.0}}
    konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "a", overrides=opts, verbose=False)
    clean, every = clean_files(), set(default_cache_dir().rglob("*.npy"))
    konstrukt.train(image_data, pipeline="resnet18", out=tmp_path / "b",
                    overrides={**opts, "augment": {"hflip": 0.5}}, verbose=False)
    assert clean_files() == clean  # other flips: the clean views are read, not computed again
    assert len(set(default_cache_dir().rglob("*.npy")) - every) > 0  # the augmented views are new

    cache = EmbeddingCache(tmp_path / "c", "backbone|flip-a", clean_key="backbone|clean")
    other = EmbeddingCache(tmp_path / "c", "backbone|flip-b", clean_key="backbone|clean")
    assert cache._path("ab12", 0) == other._path("ab12", 0)
    assert cache._path("ab12", 1) != other._path("ab12", 1)
    plain = EmbeddingCache(tmp_path / "c", "backbone|flip-a")  # no clean key: one folder, as before
    assert plain._path("ab12", 0).parent.parent == plain._path("ab12", 1).parent.parent
