import json

import pytest

from konstrukt.config import build_config, read_config_file
from konstrukt.errors import ConfigError
from konstrukt.experiment import resolve_config


def test_classic_hyperparams_json_is_accepted_as_is(tmp_path):
    path = tmp_path / "hyperparams.json"
    path.write_text(json.dumps({"num_epochs": 10, "learning_rate": 1e-4, "batch_size": 8,
                                "weight_decay": 1e-4}))
    cfg = build_config(read_config_file(path))
    assert (cfg.num_epochs, cfg.learning_rate, cfg.batch_size, cfg.weight_decay) == (10, 1e-4, 8, 1e-4)


def test_rich_yaml_config_sets_optimizer_head_schedule_and_early_stopping(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("""
optimizer: {name: sgd, momentum: 0.8, nesterov: true}
head:
  - {units: 64, activation: gelu, dropout: 0.3, batchnorm: true}
early_stopping: {patience: 3, monitor: val_accuracy}
lr_schedule: cosine
grad_clip: 1.0
label_smoothing: 0.1
augment: {rotation: 5, hflip: 0}
target_size: 20
split: {val: 0.1, test: 0.3}
seed: 7
""")
    cfg = build_config(read_config_file(path))
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.nesterov
    assert cfg.head[0].units == 64 and cfg.head[0].activation == "gelu" and cfg.head[0].batchnorm
    assert cfg.early_stopping.monitor == "val_accuracy" and cfg.lr_schedule.name == "cosine"
    assert cfg.augment.rotation == 5 and cfg.split.test == 0.3 and cfg.seed == 7


def test_invalid_config_lists_every_problem_with_key_and_allowed_values():
    with pytest.raises(ConfigError) as err:
        build_config({"num_epochs": 0, "optimizer": "adamx", "learning_rate": -1,
                      "augment": {"rotaton": 3}, "bogus": 1})
    text = str(err.value)
    assert "`num_epochs`" in text and "`learning_rate`" in text
    assert "`optimizer.name`" in text and "'adam'" in text and "'adamx'" in text
    assert "`augment.rotaton`: unknown key" in text and "rotation" in text
    assert "`bogus`: unknown key" in text


def test_flags_override_file_and_pipeline_defaults_sit_below_the_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"num_epochs": 4, "learning_rate": 0.01}))
    cfg, spec = resolve_config("image", "scratch_cnn", path, {"num_epochs": 2})
    assert spec.name == "scratch_cnn"
    assert cfg.num_epochs == 2  # flag beats file
    assert cfg.learning_rate == 0.01  # file beats pipeline default (3e-3)
    assert cfg.batch_size == 16  # pipeline default beats built-in 8
    assert cfg.strategy == "full" and cfg.pretrained == "none"


def test_auto_pipeline_is_the_recommended_one_and_unknown_names_list_choices():
    cfg, spec = resolve_config("image", "auto", None, None)  # no B0 weights cached in the tests
    assert spec.name == "efficientnet_lite0" and cfg.strategy == "probe" and cfg.pretrained == "imagenet"
    with pytest.raises(ConfigError, match="available: .*scratch_cnn"):
        resolve_config("image", "efficientnet_b9", None, None)


def test_unparseable_config_file_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{num_epochs: ")
    with pytest.raises(ConfigError, match="broken.json"):
        read_config_file(path)
