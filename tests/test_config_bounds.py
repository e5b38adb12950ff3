"""Settings that could make a job build millions of items, or crash after it was accepted, are
refused up front with the key and the limit (issue 20, item 4)."""
from __future__ import annotations

import pytest

import konstrukt
from konstrukt.config import MAX_TARGET_SIZE, MAX_TRAIN_ITEMS, build_config, check_train_items
from konstrukt.errors import ConfigError
from tests.conftest import write_images


@pytest.mark.parametrize("layer, key, limit", [
    ({"target_size": 3_000_000}, "`target_size`", f"{MAX_TARGET_SIZE}"),
    ({"target_size": -1}, "`target_size`", "0"),
    ({"seed": 10**30}, "`seed`", f"{2**32}"),
    ({"seed": -5}, "`seed`", "0"),
])
def test_unbounded_settings_are_refused_naming_the_key_and_the_limit(layer, key, limit):
    with pytest.raises(ConfigError) as err:
        build_config(layer)
    assert key in str(err.value) and limit in str(err.value), str(err.value)


def test_the_edges_of_the_ranges_are_accepted():
    cfg = build_config({"seed": 2**32 - 1, "target_size": MAX_TARGET_SIZE})
    assert (cfg.seed, cfg.target_size) == (2**32 - 1, MAX_TARGET_SIZE)


def test_the_total_training_items_of_a_job_are_bounded():
    cfg = build_config({"target_size": MAX_TARGET_SIZE})
    check_train_items(cfg, examples=100, classes=MAX_TRAIN_ITEMS // MAX_TARGET_SIZE - 1)
    with pytest.raises(ConfigError) as err:
        check_train_items(cfg, examples=100, classes=MAX_TRAIN_ITEMS // MAX_TARGET_SIZE + 1)
    assert "`target_size`" in err.value.message and f"{MAX_TRAIN_ITEMS:,}" in err.value.message
    assert "Fix: lower `target_size` to at most" in err.value.problems[0]
    check_train_items(build_config({"target_size": MAX_TARGET_SIZE, "augment": {"enabled": False}}),
                      examples=100, classes=1000)  # no augmentation: no copies are made


def test_training_refuses_too_many_items_before_reading_any_file(tmp_path, monkeypatch):
    import konstrukt.config

    data = write_images(tmp_path / "data", per_class=2, classes=("a", "b"))
    monkeypatch.setattr(konstrukt.config, "MAX_TRAIN_ITEMS", 50)
    with pytest.raises(ConfigError, match="the limit is 50 per job"):
        konstrukt.train(data, task="image", pipeline="scratch_cnn", out=tmp_path / "run",
                        config={"target_size": 30, "cv": 0}, verbose=False)
