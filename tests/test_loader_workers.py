"""One background process augments training examples (num_workers: null), and a seed still
gives the same run."""
import multiprocessing
import sys

import pytest
import torch

import konstrukt
from konstrukt.recipe import AUTO_WORKERS_MIN_EXAMPLES, SampleDataset, auto_workers
from konstrukt.runtime import cores

linux_multicore = pytest.mark.skipif(not sys.platform.startswith("linux") or cores() < 2,
                                     reason="the augmenting worker: Linux, 2 cores")


class _Sized(SampleDataset):
    def __init__(self, n: int, augment: bool):
        self.items, self.augment = [(0, 0)] * n, augment


@linux_multicore
def test_only_big_fits_on_augmented_examples_get_a_worker():
    big = AUTO_WORKERS_MIN_EXAMPLES // 10
    assert auto_workers(_Sized(big, augment=True), epochs=10) == 1
    assert auto_workers(_Sized(big, augment=True), epochs=9) == 0  # too small to pay for a process
    assert auto_workers(_Sized(big, augment=False), epochs=100) == 0  # scoring: nothing to augment
    embeddings = torch.utils.data.TensorDataset(torch.zeros(big, 4), torch.zeros(big))
    assert auto_workers(embeddings, epochs=100) == 0  # a head on cached embeddings


@linux_multicore
def test_a_seed_gives_the_same_run_with_the_augmenting_worker(image_data, tmp_path, monkeypatch):
    import konstrukt.recipe as recipe

    used = []
    real = recipe.auto_workers
    monkeypatch.setattr(recipe, "auto_workers", lambda ds, epochs: used.append(real(ds, epochs)) or used[-1])
    config = {"num_epochs": 4, "target_size": 60, "batch_size": 16, "image_size": 16, "cv": 0}
    runs = [konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / f"r{i}", config=config,
                            verbose=False) for i in range(2)]
    assert 1 in used  # 3 classes x 60 examples x 4 epochs: the worker ran
    assert runs[0].report["history"] == runs[1].report["history"]
    assert runs[0].report["test"] == runs[1].report["test"]
    assert not multiprocessing.active_children()  # the worker ended with its fit
    explicit = konstrukt.train(image_data, pipeline="scratch_cnn", out=tmp_path / "r0w", verbose=False,
                               config={**config, "num_workers": 0})
    assert explicit.config.num_workers == 0 and explicit.report["history"]  # an explicit setting wins
