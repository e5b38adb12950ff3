"""Pieces of argument setup that several commands share: a command's parser with wrapped
description and a verbatim epilog, and the DATA/--task/--config arguments of commands that read
labelled data (``check``, ``project export``)."""
from __future__ import annotations

import argparse
import textwrap


def command_parser(sub, name: str, *, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """``sub``'s parser for ``name``: its description wrapped at 90 columns, its epilog (examples,
    exit status) printed as written."""
    return sub.add_parser(name, help=help, description=textwrap.fill(description, 90), epilog=epilog,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_data_arguments(p: argparse.ArgumentParser, *, data: str, config: str) -> None:
    """The labelled data a command reads (help ``data``), its ``--task`` (a registered task) and
    ``--config`` (help ``config``: what the command takes from the settings file)."""
    from ..tasks import TASKS

    p.add_argument("data", help=data)
    p.add_argument("--task", default=None, choices=TASKS.names(),
                   help="kind of examples (default: image; a CSV with text: guessed from the file types)")
    p.add_argument("--config", default=None, metavar="FILE", help=config)
