"""The setting flags come from the typed config: types, choices and the (nested) keys they set."""
from __future__ import annotations

import typing

import pytest

from konstrukt.cli import build_parser
from konstrukt.cli.flags import Flag, argument, config_field, overrides
from konstrukt.cli.training import compare_flags, train_flags
from konstrukt.config import SignalConfig, TrainConfig, build_config


@pytest.mark.parametrize("flags", [train_flags, compare_flags])
def test_every_flag_is_a_setting_of_the_config(flags):
    for flag in flags():
        config_field(flag.key)  # raises for a key TrainConfig does not have


def test_types_and_choices_are_the_fields_own():
    assert argument(Flag("num_epochs"))["type"] is int
    assert argument(Flag("signal.window"))["type"] is float
    assert argument(Flag("signal.layout"))["choices"] == list(
        typing.get_args(SignalConfig.model_fields["layout"].annotation))
    assert argument(Flag("strategy"))["choices"] == ["probe", "head", "partial", "full"]
    assert argument(Flag("health.strict"))["action"] == "store_const"
    assert "type" not in argument(Flag("head"))  # a preset name (or blocks, in a config file)
    with pytest.raises(KeyError):
        config_field("signal.no_such_setting")


def test_given_flags_become_nested_overrides_that_the_config_accepts():
    args = build_parser().parse_args(["train", "data", "--out", "o", "--epochs", "3", "--window", "1.5",
                                      "--layout", "time_first", "--strict", "--lr", "0.01"])
    got = overrides(args, train_flags())
    assert got == {"num_epochs": 3, "learning_rate": 0.01, "health": {"strict": True},
                   "signal": {"window": 1.5, "layout": "time_first"}}
    cfg = build_config(got)
    assert isinstance(cfg, TrainConfig) and cfg.signal.window == 1.5 and cfg.health.strict
    nothing = build_parser().parse_args(["train", "data", "--out", "o"])
    assert overrides(nothing, train_flags()) == {}


def test_a_bad_value_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "data", "--out", "o", "--layout", "sideways"])
    assert "--layout" in capsys.readouterr().err


def test_compare_takes_its_own_subset():
    args = build_parser().parse_args(["compare", "data", "--out", "o", "--cv", "3", "--seed", "7"])
    assert overrides(args, compare_flags()) == {"cv": 3, "seed": 7}
