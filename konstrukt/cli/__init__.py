"""The ``konstrukt`` command: a thin face over the library (every command calls one function).

Commands by group: :mod:`.training` (train, compare), :mod:`.data` (check), :mod:`.runs`
(evaluate, predict, export), :mod:`.app` (demo, serve, pipelines); :mod:`.flags` derives the
setting flags from the typed config, :mod:`.output` lays results out for the terminal.
"""
from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading

from ..errors import KonstruktError
from . import app, data, project, runs, training


def build_parser() -> argparse.ArgumentParser:
    from ..version import __version__

    parser = argparse.ArgumentParser(
        prog="konstrukt",
        description="Build a classifier from a few dozen examples per class, see honestly how good "
                    "it is, and use it. Start with `konstrukt demo`.")
    parser.add_argument("--version", action="version", version=f"konstrukt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (training.add_train, training.add_compare, data.add_check, runs.add_evaluate,
                runs.add_predict, runs.add_export, project.add_project, app.add_demo, app.add_serve, app.add_list):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Idle OpenMP threads sleep instead of spinning: on a busy machine spinning threads slowed a
    # small CNN's training ~4x (measured by the service worker). Must be set before torch starts.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..modalities import register_all

    register_all()  # the parser lists the registered tasks and pipelines
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KonstruktError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return 130


def run() -> None:
    """The ``konstrukt`` program (``python -m konstrukt`` and the installed command): :func:`main`,
    then :func:`exit_without_teardown` — not when :func:`main` is called from Python code."""
    exit_without_teardown(main())


def exit_without_teardown(code: int | None) -> None:
    """End the program with ``code`` and skip the interpreter's teardown of every module.

    Tearing down torch, torchvision, scikit-learn and scipy took ~0.9 s after each command (a
    first model in ~7 s: bench/first_model.py). What a normal exit does first still happens: other
    threads are waited for, the exit handlers run (logging, multiprocessing's children, temporary
    folders), the output is flushed; every file konstrukt writes is closed where it is written."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 — what the interpreter runs at exit, in its order
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`konstrukt … | head`): nothing more to say
            pass
    os._exit(int(code or 0))


if __name__ == "__main__":
    run()

