"""The Ray executor: each job is one Ray task; its progress comes back through a small actor.

Why an actor for progress (and not the blob store or the task's return stream): events must reach
the UI while the task runs (epoch by epoch), the remote worker must not need the database, and the
driver must learn which process runs the job. A per-job ``ProgressRelay`` actor (0 CPUs) takes
events fire-and-forget from the task (Ray keeps one caller's calls in order) and hands them to the
driver in batches; it is gone with the job. A ``ray.util.queue.Queue`` is also an actor, but one
that cannot carry the worker's identity or be drained in one call. Polling the blob store would
add a storage round trip per event and leave files to clean up.

The driver (the service's worker process, or the CLI) keeps the job queue, heartbeats and cancel:
a cancel calls ``ray.cancel(ref, force=True)``, which kills the worker process; a worker process
that dies (killed, out of memory, node lost) surfaces as :class:`~.base.WorkerLost`, and the task
is never retried by Ray itself (``max_retries=0``): the service's queue decides.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time

from ..version import __version__
from .base import Executor, ExecutorError, JobSpec, ProgressFn, WorkerLost
from .steps import raise_error

log = logging.getLogger("konstrukt.ray")

POLL_SECONDS = 0.3
GIB = 1024 ** 3

_remote = {}  # the ray.remote wrappers, made once per process (after `import ray`)


def _parts():
    if not _remote:
        import ray

        @ray.remote(num_cpus=0, max_restarts=0)
        class ProgressRelay:
            def __init__(self):
                self.events: list[dict] = []
                self.worker: dict | None = None

            def hello(self, identity: dict) -> None:
                self.worker = identity

            def report(self, event: dict) -> None:
                self.events.append(event)

            def drain(self) -> tuple[list[dict], dict | None]:
                events, self.events = self.events, []
                return events, self.worker

        @ray.remote(max_retries=0)
        def run_job(spec: dict, relay) -> dict:
            # absolute imports: this body runs on a Ray worker
            import os
            from konstrukt.execution.ray_executor import ray_runners
            from konstrukt.execution.steps import run_shipped, worker_identity
            from konstrukt.modalities import register_all

            register_all()  # a Ray worker is a fresh process: its registries start empty
            relay.hello.remote(worker_identity())
            resources = spec.get("resources") or {}
            os.environ["KONSTRUKT_NUM_THREADS"] = str(max(1, int(float(resources.get("cpus", 1.0)))))
            return run_shipped(spec, lambda event: relay.report.remote(event), ray_runners(resources))

        @ray.remote(max_retries=0)
        def fit_fold(prepared, callback, pool, train, held_out, n, k, epochs):
            from konstrukt.execution.folds import fit_fold
            from konstrukt.modalities import register_all
            from konstrukt.progress import Progress
            from konstrukt.recipe import Recipe

            register_all()
            return fit_fold(Recipe(prepared, Progress(callback, verbose=False)), pool, train, held_out, n, k, epochs)

        @ray.remote(max_retries=0)
        def fit_pipeline(job):
            import shutil
            import tempfile
            from pathlib import Path

            from konstrukt.execution.pipelines import fit_pipeline
            from konstrukt.modalities import register_all

            register_all()
            scratch = Path(tempfile.mkdtemp(prefix="konstrukt-pipeline-"))
            job.folder = scratch / "run"
            try:  # the run folder travels back as bytes: small (weights, report, pictures)
                report, latency, seconds = fit_pipeline(job)
                files = {p.relative_to(job.folder).as_posix(): p.read_bytes()
                         for p in job.folder.rglob("*") if p.is_file()}
                return report, latency, seconds, files
            except Exception as exc:  # noqa: BLE001 — the pipeline's row says why
                return exc
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

        _remote.update(relay=ProgressRelay, run_job=run_job, fit_fold=fit_fold, fit_pipeline=fit_pipeline)
    return _remote


def task_options(spec: JobSpec) -> dict:
    """Ray resources of the job's task, from its config's ``resources`` section."""
    res = spec.resources or {}
    opts = {"num_cpus": float(res.get("cpus", 1.0)), "num_gpus": float(res.get("gpus", 0.0)),
            "name": f"konstrukt-{spec.name}"}
    if res.get("memory"):
        opts["memory"] = int(float(res["memory"]) * GIB)
    return opts


def fold_runner(resources: dict):
    """A fold runner (:mod:`konstrukt.execution.folds`): the CV folds of a fine-tuning
    run become parallel Ray tasks (each with the job's resources) when the cluster has room for
    more than one; the decoded data goes to them once, through Ray's object store. Probes keep their
    folds in the job's own task: their folds only fit heads on cached embeddings."""
    import ray

    from .folds import run_folds

    cpus, gpus = float(resources.get("cpus", 1.0)), float(resources.get("gpus", 0.0))

    def runner(recipe, pool, folds, epochs):
        room = ray.cluster_resources().get("CPU", 0.0) // max(cpus, 1e-9)
        if recipe.probe or len(folds) < 2 or room < 2:
            return run_folds(recipe, pool, folds, epochs)
        recipe.progress.event("cv", f"{len(folds)} folds as parallel Ray tasks", folds=len(folds), parallel=True)
        prepared = ray.put(recipe.p)
        task = _parts()["fit_fold"].options(num_cpus=cpus, num_gpus=gpus)
        refs = [task.remote(prepared, recipe.progress.callback, pool, tr, te, n, len(folds), epochs)
                for n, (tr, te) in enumerate(folds, start=1)]
        return ray.get(refs)

    return runner


def pipeline_runner(resources: dict):
    """A pipeline runner (:mod:`konstrukt.execution.pipelines`): the pipelines of a
    comparison group become parallel Ray tasks (each with the job's resources) when the cluster has
    room for more than one. Each gets its Prepared (decoded once, by the job's task) through the
    object store and sends its run folder back as bytes; rows are made in the original order."""
    import ray

    from .pipelines import run_sequential

    cpus, gpus = float(resources.get("cpus", 1.0)), float(resources.get("gpus", 0.0))

    def runner(jobs):
        room = ray.cluster_resources().get("CPU", 0.0) // max(cpus, 1e-9)
        if len(jobs) < 2 or room < 2:
            return run_sequential(jobs)  # a Ray worker does not fork
        jobs[0].progress.event("compare", f"{len(jobs)} pipelines as parallel Ray tasks", parallel=True)
        task = _parts()["fit_pipeline"].options(num_cpus=cpus, num_gpus=gpus)
        # each pipeline's folds stay in its own task (no fold runner travels with it)
        refs = [task.remote(dataclasses.replace(job, fold_runner=None)) for job in jobs]
        results = []
        for job, result in zip(jobs, ray.get(refs)):
            if isinstance(result, BaseException):
                results.append(result)
                continue
            report, latency, seconds, files = result
            for name, data in files.items():
                (job.folder / name).parent.mkdir(parents=True, exist_ok=True)
                (job.folder / name).write_bytes(data)
            results.append((report, latency, seconds))
        return results

    return runner


def ray_runners(resources: dict):
    """The :class:`~konstrukt.execution.runners.Runners` of a job in a Ray task: its CV folds and
    compared pipelines as parallel Ray tasks, each with the job's resources."""
    from .runners import Runners

    return Runners(folds=fold_runner(resources), pipelines=pipeline_runner(resources))


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None):
        self.address = address

    def connect(self) -> None:
        """Join the cluster at ``address`` (none: start a Ray inside this process)."""
        import ray

        if ray.is_initialized():
            return
        env_vars = {"KONSTRUKT_SENDER_VERSION": __version__,
                    "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        if os.environ.get("KONSTRUKT_EMBEDDINGS_STORE"):  # S3 storage: embeddings shared by every worker
            env_vars["KONSTRUKT_EMBEDDINGS_STORE"] = os.environ["KONSTRUKT_EMBEDDINGS_STORE"]
        runtime_env = {"env_vars": env_vars}  # no credentials: each node has its own AWS_* variables
        try:
            extra = {} if self.address else {"include_dashboard": False}
            ray.init(address=self.address, runtime_env=runtime_env, namespace="konstrukt",
                     log_to_driver=False, configure_logging=False, **extra)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Ray cluster at {self.address or '(local)'}: {exc}",
                                ["Fix: start it with `ray start --head` and pass its address "
                                 "(--ray-address HOST:6379), or check the network"]) from None

    def run(self, spec: JobSpec, progress: ProgressFn) -> dict:
        import ray
        from ray import exceptions as rx

        self.connect()
        if not (spec.store_url and spec.manifest and spec.run_prefix):
            raise ValueError("a Ray job needs store_url, manifest and run_prefix")
        parts = _parts()
        relay = parts["relay"].remote()
        ref = parts["run_job"].options(**task_options(spec)).remote(
            {**spec.to_dict(), "version": spec.version or __version__}, relay)
        announced = False
        try:
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                try:
                    events, worker = ray.get(relay.drain.remote(), timeout=30)
                except (rx.RayActorError, rx.GetTimeoutError):
                    events, worker = [], None
                if worker and not announced:
                    announced = True
                    progress({"stage": "prepare", "message": f"running on Ray worker {worker['host']} "
                              f"(pid {worker['pid']})", "worker_pid": worker["pid"],
                              "worker_host": worker["host"]})
                for event in events:
                    progress(event)
                if ready:
                    break
            result = ray.get(ref)
        except BaseException as exc:
            if isinstance(exc, (rx.WorkerCrashedError, rx.NodeDiedError, rx.LocalRayletDiedError,
                                rx.ObjectLostError, rx.OwnerDiedError, rx.RayActorError)):
                raise WorkerLost(f"the Ray worker running this job died ({type(exc).__name__})") from None
            if isinstance(exc, rx.TaskCancelledError):
                raise KeyboardInterrupt from None
            if isinstance(exc, rx.RayTaskError):
                raise RuntimeError(f"the Ray task failed: {exc}") from None
            ray.cancel(ref, force=True)  # a cancel (or Ctrl-C): kill the remote worker process
            raise
        finally:
            ray.kill(relay, no_restart=True)
        if not result.get("ok"):
            if result["error"]["type"] == "lost":
                raise WorkerLost(result["error"]["message"])
            raise_error(result["error"])
        return result

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()


def wait_for_cluster(address: str, timeout: float = 60.0) -> None:
    """Block until a Ray cluster answers at ``address`` (used by scripts that just started one)."""
    import ray

    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.init(address=address, configure_logging=False, log_to_driver=False)
            ray.shutdown()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)
