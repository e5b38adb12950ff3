"""Flags that set training settings, derived from the typed config (:class:`konstrukt.config.TrainConfig`).

Each :class:`Flag` names a config key (``num_epochs``, ``signal.window``, ``health.strict``) and
the words people read; its type, its choices and the key it sets come from the config's own field:
an ``int`` field gives an ``int`` flag, a ``Literal`` its choices, a ``bool`` a switch, a key in a
section (``signal.window``) a nested override (``{"signal": {"window": …}}``). So a flag cannot
drift from the setting it sets, and :func:`overrides` needs no list of keys kept beside the parser.
"""
from __future__ import annotations

import argparse
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Literal

from pydantic import BaseModel


@dataclass(frozen=True)
class Flag:
    key: str  # dotted TrainConfig key
    help: str | None = None
    name: str | None = None  # the option when not --the-key-with-dashes (--epochs, --lr)
    metavar: str | None = None
    choices: Callable[[], list[str]] | None = None  # names from a registry (tasks), when the type has none
    group: str | None = None  # the help's argument group

    @property
    def option(self) -> str:
        return self.name or "--" + self.key.rsplit(".", 1)[-1].replace("_", "-")

    @property
    def dest(self) -> str:
        return self.key.replace(".", "__")


def config_field(key: str):
    """The pydantic field of a dotted TrainConfig key; an unknown key is a programming error."""
    from ..config import TrainConfig

    model: type[BaseModel] = TrainConfig
    *sections, name = key.split(".")
    for section in sections:
        model = model.model_fields[section].annotation
    if name not in model.model_fields:
        raise KeyError(f"{key!r} is not a TrainConfig setting")
    return model.model_fields[name]


def _plain(annotation) -> Any:
    """``Optional[X]`` → X; of a union of several (``head``: a preset name or blocks), the ``str``."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in args if a is not type(None)]
        return args[0] if len(args) == 1 else (str if str in args else args[0])
    return annotation


def argument(flag: Flag) -> dict[str, Any]:
    """The ``add_argument`` keywords of ``flag``, from its config field."""
    kind = _plain(config_field(flag.key).annotation)
    kwargs: dict[str, Any] = {"dest": flag.dest, "default": None, "help": flag.help}
    if kind is bool:
        return {**kwargs, "action": "store_const", "const": True}
    if typing.get_origin(kind) is Literal:
        kwargs["choices"] = list(typing.get_args(kind))
    elif kind in (int, float):
        kwargs["type"] = kind
    if flag.choices:
        kwargs["choices"] = flag.choices()
    if flag.metavar:
        kwargs["metavar"] = flag.metavar
    return kwargs


def add_flags(parser: argparse.ArgumentParser, flags: tuple[Flag, ...]) -> None:
    """Add ``flags`` to ``parser``, in their order, each group once."""
    groups: dict[str, Any] = {}
    for flag in flags:
        target = parser
        if flag.group:
            target = groups.setdefault(flag.group, parser.add_argument_group(flag.group))
        target.add_argument(flag.option, **argument(flag))


def overrides(args: argparse.Namespace, flags: tuple[Flag, ...]) -> dict[str, Any]:
    """The config overrides the given flags set (nested by section); flags not given are left out."""
    out: dict[str, Any] = {}
    for flag in flags:
        value = getattr(args, flag.dest)
        if value is None:
            continue
        *sections, name = flag.key.split(".")
        layer = out
        for section in sections:
            layer = layer.setdefault(section, {})
        layer[name] = value
    return out
