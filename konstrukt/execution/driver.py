"""The CLI's side of a job sent to an executor: ship the data, run it, bring the run folder back.

``konstrukt train DATA --executor ray`` and ``konstrukt compare DATA --executor ray`` call
:func:`submit`: the data goes into the blob store (``--storage-url``; default a staging folder on
this machine, which a one-machine cluster can read), the job runs as a Ray task, progress events
come back live, and the run folder is fetched from the store into ``--out``.
"""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

from .. import artifacts
from ..blobstore import open_store
from ..config import read_config_file
from ..progress import Progress, ProgressCallback
from ..version import __version__
from .base import Executor, JobSpec
from .ship import ship_path


def default_staging_url() -> str:
    """Where the CLI stages a job's files when no ``--storage-url`` is given (this machine only)."""
    return os.environ.get("KONSTRUKT_STORAGE_URL") or str(Path(tempfile.gettempdir()) / "konstrukt-staging")


def submit(executor: Executor, kind: str, data, out, *, task: str | None = None, pipeline: str | None = None,
           config=None, overrides: dict | None = None, storage_url: str | None = None,
           progress: ProgressCallback | None = None, overwrite: bool = False, verbose: bool = True) -> Path:
    """Run a train (``kind`` train) or compare job through ``executor``; return the out folder.

    For compare, ``config`` is ``{"pipelines": ..., "config": ...}`` as the service stores it.
    """
    from ..experiment import resolve_config

    reporter = Progress(progress, verbose)
    layer = read_config_file(config) if isinstance(config, (str, Path)) else dict(config or {})
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    if kind == "train":  # a bad config fails here, before anything is shipped
        cfg, _ = resolve_config(task, pipeline, layer, overrides)
        resources = cfg.resources.model_dump()
    else:
        inner = layer.get("config")
        layer["config"] = read_config_file(inner) if isinstance(inner, (str, Path)) else dict(inner or {})
        resources = dict(layer["config"].get("resources") or {})
    out = Path(out).expanduser()
    staging = artifacts.start_run_dir(out, overwrite)
    store = open_store(storage_url or default_staging_url())
    prefix = f"cli-jobs/{uuid.uuid4().hex[:12]}"
    try:
        reporter.say(f"sending the data to {store.url}")
        manifest, data_path = ship_path(store, f"{prefix}/data", Path(data))
        spec = JobSpec(kind=kind, name=prefix.split("/")[-1], task=task, pipeline=pipeline, config=layer,
                       overrides=overrides, data=Path(data).resolve() if Path(data).is_dir() else None,
                       store_url=store.url, manifest=manifest.to_json(),
                       data_path=data_path, run_prefix=f"{prefix}/run", resources=resources,
                       version=__version__)

        def relay(event: dict) -> None:
            if progress:
                progress(event)
            if verbose and event.get("message") and event.get("stage") != "warning":
                reporter.say(f"[{event.get('stage')}] {event['message']}")
            elif event.get("stage") == "warning":
                reporter.say(f"warning: {event.get('message')}")

        executor.run(spec, relay)
        store.get_tree(f"{prefix}/run", staging)
        final = artifacts.finish_run_dir(staging, out, overwrite)
    except BaseException:
        artifacts.abandon_run_dir(staging)
        raise
    finally:
        store.delete_prefix(prefix)
    return final
