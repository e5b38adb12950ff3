"""Pipelines of a comparison side by side on this machine's cores, one forked process each.

Heads on a frozen backbone train on one thread each (``runtime.torch_threads``), so a comparison
of several heads leaves the other cores idle when it runs them one after another. Here each
pipeline of such a group is fitted in a process forked from this one — it inherits the decoded
data, the backbone and the split without copying them; the embeddings are computed before the
fork (``experiment.embed_ahead``), so the backbone still runs once. A child sends its progress
events, then its report and its head's weights, through a pipe; the parent relays the events,
measures the latency of each pipeline itself (on an otherwise idle machine, not while the others
train) and builds the rows in the original order.

Only where it is safe and useful: Linux (fork), the CPU (a CUDA context does not survive a fork),
frozen backbones, at least two pipelines and two cores. A cancel (or any error in the parent)
stops every child; a child that dies gives its pipeline a "failed" row and the others go on.
"""
from __future__ import annotations

import os
import pickle
import sys
import traceback
from multiprocessing import connection, get_context
from typing import Any

from ..errors import RunError, WeightsUnavailableError
from ..progress import Progress
from ..runtime import cores
from . import children
from .pipelines import PipelineJob, pipeline_latency, run_sequential, train_pipeline, why_failed


def run_local(jobs: list[PipelineJob], processes: int | None = None) -> list[Any]:
    """The pipelines of one comparison group on this machine (the default pipeline runner).

    Heads on a frozen backbone run side by side in up to ``processes`` forked processes (default:
    one per core); anything else, or ``processes=1``, one after another in this process.
    """
    if can_fork(jobs, processes):
        return run_forked(jobs, processes)
    return run_sequential(jobs)


def can_fork(jobs: list, processes: int | None) -> bool:
    """Whether ``jobs`` may run in forked processes."""
    limit = processes if processes is not None else cores()
    return (sys.platform.startswith("linux") and len(jobs) >= 2 and limit >= 2
            and all(job.prepared.config.strategy == "probe" and job.prepared.device.type == "cpu"
                    for job in jobs))


def _child(job, index: int, send, parent: int) -> None:
    """In the forked process: fit one pipeline and write its run folder; send events and result."""
    import torch

    from ..modalities import register_all

    register_all()  # inherited from the parent by the fork: a no-op, unless it was never called
    children.become_child(parent)
    torch.set_num_threads(1)

    def post(message: tuple) -> None:
        children.send(send, message)

    # No bars or lines from here (several children would draw over each other): the parent says
    # when each pipeline starts and ends, and prints the warnings (once for all the children).
    job.progress = Progress(lambda event: post(("event", index, event)), verbose=False,
                            said=job.progress.said, echo=False)
    try:
        model, report, seconds = train_pipeline(job)
        state = {k: v.detach().cpu() for k, v in model.head.state_dict().items()}
        post(("done", index, (report, state, seconds)))
    except BaseException as exc:  # noqa: BLE001 — every failure becomes this pipeline's row
        status = "skipped" if isinstance(exc, WeightsUnavailableError) else "failed"
        if status == "failed":
            traceback.print_exc()
        post(("error", index, (status, why_failed(exc))))
    finally:
        send.close()


def run_forked(jobs: list, processes: int | None = None) -> list[Any]:
    """Fit ``jobs`` in up to ``processes`` (default: one per core) forked processes at once.

    Returns what every pipeline runner returns: per job, (report, latency ms, seconds) or the
    exception that stopped it.
    """
    from ..experiment import embed_ahead, plan_experiment, reference
    from ..recipe import Recipe
    from ..models.classifier import count_parameters

    limit = max(1, min(processes or cores(), len(jobs)))
    first = jobs[0]
    try:
        plans = [plan_experiment(job.prepared) for job in jobs]
        for job, plan in zip(jobs, plans):  # the backbone runs here, once; the children inherit them
            embed_ahead(job.prepared, job.progress, plan)
        size = [count_parameters(Recipe(job.prepared, job.progress).new_model())[1] for job in jobs]
    except Exception:  # noqa: BLE001 — one after another, each pipeline's failure gets its own row
        return run_sequential(jobs)
    plan = plans[0]
    try:  # the reference model is the same for the whole group: fitted once, here
        reference(first.prepared, plan.pool, plan.splits["test"], plan.folds, first.progress)
    except Exception:  # noqa: BLE001 — each pipeline then tries again and reports why
        pass
    first.progress.event("compare", f"{len(jobs)} pipelines side by side in {limit} processes",
                         parallel=limit)
    first.progress.say(f"{len(jobs)} pipelines side by side in {limit} processes")
    # The biggest heads first: the small ones fill in around them, and all finish sooner.
    waiting = sorted(range(len(jobs)), key=lambda i: -size[i])
    results = _supervise(jobs, waiting, limit)
    out: list[Any] = []
    for index, job in enumerate(jobs):
        kind, payload = results[index]
        if kind == "error":
            status, why = payload
            out.append(WeightsUnavailableError(why) if status == "skipped" else RunError(why))
            continue
        report, state, seconds = payload
        model = Recipe(job.prepared, job.progress).new_model()
        model.head.load_state_dict(state)
        out.append((report, pipeline_latency(model, job.prepared), seconds))
    return out


def _supervise(jobs: list, waiting: list[int], limit: int) -> dict[int, tuple[str, Any]]:
    """Start the children (``limit`` at a time, in ``waiting``'s order), relay their events,
    collect ("done", result) or ("error", (status, why)) per job; stop them all on the way out."""
    ctx = get_context("fork")
    running: dict[int, tuple[Any, Any]] = {}
    results: dict[int, tuple[str, Any]] = {}

    def end(index: int, kind: str, payload: Any) -> None:
        child, receive = running.pop(index)
        receive.close()  # a child still sending gets a broken pipe and stops
        if kind == "error" and child.is_alive():
            child.terminate()
        child.join()
        results[index] = (kind, payload)
        if kind == "done":
            jobs[index].progress.say(f"{jobs[index].line}: done in {payload[2]:.1f} s")

    try:
        while waiting or running:
            while waiting and len(running) < limit:
                index = waiting.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                child = ctx.Process(target=_child, args=(jobs[index], index, send, os.getpid()),
                                    name=f"konstrukt-pipeline-{index}", daemon=True)
                child.start()
                send.close()  # the child's end; EOF here once the child is gone
                running[index] = (child, receive)
                jobs[index].progress.say(f"{jobs[index].line}: started")
            ready = connection.wait([r for _, r in running.values()], timeout=1.0)
            for index, (child, receive) in list(running.items()):
                if receive not in ready:
                    continue
                try:
                    kind, _, payload = pickle.loads(receive.recv_bytes())
                except (EOFError, OSError):  # died without a word (killed, out of memory)
                    child.join()
                    end(index, "error", ("failed", f"the process training it stopped "
                                                   f"(exit code {child.exitcode})"))
                    continue
                except Exception as exc:  # noqa: BLE001 — a message this side cannot read
                    end(index, "error", ("failed", f"its result could not be read ({exc})"))
                    continue
                if kind != "event":
                    end(index, kind, payload)
                    continue
                try:
                    children.relay(jobs[index].progress, payload)
                except Exception as exc:  # noqa: BLE001 — as one after another: this pipeline fails
                    end(index, "error", ("failed", why_failed(exc)))
    finally:  # a cancel (a BaseException from a callback, Ctrl-C) or an error here: stop them all
        children.end(running.values())
    return results
