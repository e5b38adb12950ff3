"""What a job does, wherever it runs: train (or compare) on a folder, write the run folder.

:func:`run_spec` is the in-place step both executors end in. :func:`run_shipped` is the remote
step: it needs nothing of the sending machine but the blob store — it materializes the job's
manifest into a scratch folder, runs :func:`run_spec` there, and puts the run folder back into the
store under ``run_prefix``. Errors come back as plain data (type, message, problems), with the
scratch folder's paths replaced by the names the user knows.
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import traceback
from pathlib import Path

from ..errors import KonstruktError


def run_spec(kind: str, data: Path, out: Path, spec, progress, verbose: bool, runners=None) -> dict:
    """Train or compare on ``data``, writing ``out``; return ``{"report"}`` or ``{"board"}``.

    ``runners`` (:class:`~konstrukt.execution.runners.Runners`): how the job's folds and pipelines
    run; None: here."""
    import konstrukt

    if kind == "compare":
        cfg = spec.config or {}
        board = konstrukt.compare(data, task=spec.task, out=out, pipelines=cfg.get("pipelines"),
                                  config=cfg.get("config") or {}, overrides=spec.overrides or None,
                                  progress=progress, overwrite=True, verbose=verbose, runners=runners)
        return {"board": board}
    run = konstrukt.train(data, task=spec.task, out=out, pipeline=spec.pipeline, config=spec.config,
                          overrides=spec.overrides or None, progress=progress, overwrite=True,
                          verbose=verbose, runners=runners)
    return {"report": run.report}


def check_version(expected: str) -> None:
    """The worker must run the konstrukt the job was made by: configs and run folders change."""
    from ..version import __version__
    from .base import ExecutorError

    if expected and expected != __version__:
        raise ExecutorError(
            f"this worker ({socket.gethostname()}) runs konstrukt {__version__}, the job was sent by "
            f"konstrukt {expected}",
            [f"Fix: pip install 'konstrukt=={expected}' on every Ray node, then restart them "
             "(ray stop; ray start ...)"])


# Ray's exceptions for a worker process or node that went away (by name: Ray is optional here).
LOST = frozenset({"WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError",
                  "OwnerDiedError", "ActorDiedError", "RayActorError"})


def run_shipped(spec_dict: dict, progress, runners=None) -> dict:
    """The remote step: manifest → scratch folder → train → run folder into the store (``runners``:
    how the job's folds and pipelines run, see :func:`run_spec`).

    Returns ``{"ok": True, "report"|"board": ...}`` or ``{"ok": False, "error": {...}}``.
    """
    from ..blobstore import Manifest, materialize, open_store
    from .base import JobSpec

    spec = JobSpec(**{**spec_dict, "data": None, "out": None})
    scratch = Path(tempfile.mkdtemp(prefix=f"konstrukt-{spec.name}-"))
    names = {str(scratch / "data"): "your data", str(scratch / "run"): "the results", str(scratch): "the job"}
    report = progress
    progress = lambda event: report(_hidden(event, names))  # noqa: E731 -- no worker paths in events
    try:
        check_version(spec.version)
        store = open_store(spec.store_url)
        progress({"stage": "prepare", "message": f"fetching {spec.name}'s files on {socket.gethostname()}"})
        folder = materialize(store, Manifest.from_json(spec.manifest), scratch / "data")
        data = folder / spec.data_path if spec.data_path else folder
        result = run_spec(spec.kind, data, scratch / "run", spec, progress, verbose=False, runners=runners)
        # the run's data root is the sender's copy of the data, not this worker's scratch folder
        relocate_reports(scratch / "run", scratch / "data", spec_dict.get("data"), spec.data_path)
        store.delete_prefix(spec.run_prefix)  # a lost earlier attempt may have left some files
        store.put_tree(spec.run_prefix, scratch / "run")
        return {"ok": True, **_hidden(result, names)}
    except KonstruktError as exc:
        service = exc.service and [_hide(exc.service[0], names), [_hide(p, names) for p in exc.service[1]]]
        return {"ok": False, "error": {"type": type(exc).__name__, "message": _hide(exc.message, names),
                                       "problems": [_hide(p, names) for p in exc.problems],
                                       "service": service}}
    except Exception as exc:  # the traceback stays in the worker's log; the user gets the gist
        traceback.print_exc()
        if type(exc).__name__ in LOST:  # a sub-task's worker died (a CV fold, a compared pipeline)
            return {"ok": False, "error": {"type": "lost", "message": f"a Ray worker running part of this "
                                           f"job died ({type(exc).__name__})", "problems": []}}
        return {"ok": False, "error": {"type": "internal",
                                       "message": _hide(f"{type(exc).__name__}: {exc}", names),
                                       "problems": []}}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def relocate_reports(run: Path, scratch_data: Path, origin: str | None, data_path: str = "") -> None:
    """Point the data root recorded beside every run under ``run`` at ``origin`` (the sender's data:
    a folder, or a .csv/.zip file in its folder) instead of this worker's scratch copy, so the
    sender finds the held-out files (export's parity check). Without an origin, the record goes."""
    from ..artifacts import DATA_ROOT, forget_data_root, read_data_root, write_data_root

    if not origin:
        forget_data_root(run)
        return
    origin_root = Path(origin).parent if data_path else Path(origin)
    for path in run.rglob(DATA_ROOT):
        root = read_data_root(path.parent)
        try:
            write_data_root(path.parent, origin_root / root.relative_to(scratch_data.resolve()))
        except (ValueError, AttributeError):  # a zip's temporary folder: nothing to point at
            path.unlink(missing_ok=True)


def raise_error(error: dict) -> None:
    """Re-raise an error that :func:`run_shipped` returned, as the KonstruktError type it was."""
    from .. import errors

    kind = getattr(errors, error["type"], None)
    if error["type"] == "ExecutorError":
        from .base import ExecutorError as kind
    if isinstance(kind, type) and issubclass(kind, KonstruktError):
        raise kind(error["message"], error["problems"], service=error.get("service"))
    raise RuntimeError(error["message"])


def worker_identity() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _hide(text: str, names: dict[str, str]) -> str:
    for path, name in names.items():  # longest first: the data folder before the scratch folder
        text = text.replace(path, name)
    return text


def _hidden(value, names):
    if isinstance(value, str):
        return _hide(value, names)
    if isinstance(value, dict):
        return {k: _hidden(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v, names) for v in value]
    return value
