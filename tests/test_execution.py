"""The executor seam without a cluster: the shipped step over a blob store, settings, clear errors."""
from __future__ import annotations

import json
import sys

import pytest

from konstrukt import __version__
from konstrukt.blobstore import LocalBlobStore, Manifest
from konstrukt.cli import main
from konstrukt.config import TrainConfig
from konstrukt.execution import ExecutorError, JobSpec, make_executor
from konstrukt.execution.local import LocalExecutor
from konstrukt.execution.ray_executor import task_options
from konstrukt.execution.ship import ship_path
from konstrukt.execution.steps import check_version, run_shipped


def test_shipped_step_trains_from_a_manifest_and_puts_the_run_into_the_store(image_data, tmp_path, fast):
    store = LocalBlobStore(tmp_path / "store")
    manifest, data_path = ship_path(store, "jobs/1/data", image_data)
    assert data_path == "" and len(manifest.entries) == len(list(image_data.rglob("*.png")))
    events = []
    spec = JobSpec(kind="train", name="job-1", task="image", pipeline="scratch_cnn", config=fast,
                   data=image_data, store_url=store.url, manifest=manifest.to_json(), run_prefix="jobs/1/run",
                   version=__version__)
    result = run_shipped(spec.to_dict(), events.append)
    assert result["ok"], result
    assert {"report.json", "model.safetensors", "config.json"} <= {k.split("/")[-1] for k in store.list("jobs/1/run")}
    report = json.loads(store.get_bytes("jobs/1/run/report.json"))
    # The report names files relative to the data; the run's data root is the sender's data folder,
    # not the worker's scratch copy.
    assert all(not f.startswith("/") for f in report["data"]["files"]["test"])
    assert json.loads(store.get_bytes("jobs/1/run/data_root.json"))["root"] == str(image_data.resolve())
    assert any(e["stage"] == "train" and e.get("epoch") for e in events)
    assert "konstrukt-job-1-" not in json.dumps(events)  # no worker scratch path in any event


def test_shipped_step_returns_user_errors_as_data_with_no_worker_paths(tmp_path, fast):
    store = LocalBlobStore(tmp_path / "store")
    bad = tmp_path / "bad"
    for name in ("cat", "dog"):
        (bad / name).mkdir(parents=True)
        (bad / name / f"{name}.png").write_bytes(b"not a png")
    manifest, _ = ship_path(store, "j/data", bad)
    spec = JobSpec(kind="train", name="j", task="image", pipeline="scratch_cnn", config=fast,
                   store_url=store.url, manifest=manifest.to_json(), run_prefix="j/run", version=__version__)
    result = run_shipped(spec.to_dict(), lambda e: None)
    assert not result["ok"] and result["error"]["type"] == "DataError"
    text = json.dumps(result["error"])
    assert "cat.png" in text and "konstrukt-j-" not in text
    assert not list(store.list("j/run"))


def test_a_changed_file_in_the_store_is_refused(image_data, tmp_path, fast, monkeypatch):
    store = LocalBlobStore(tmp_path / "store")
    manifest, _ = ship_path(store, "j/data", image_data)
    entry = manifest.entries[0]
    manifest = Manifest([entry.__class__(entry.key, entry.path, "0" * 64, entry.size), *manifest.entries[1:]])

    class Remote(LocalBlobStore):  # a store with no local paths: files are fetched and hash-checked
        def local_path(self, key):
            return None

    monkeypatch.setattr("konstrukt.blobstore.open_store", lambda url: Remote(tmp_path / "store"))
    spec = JobSpec(kind="train", name="j", task="image", pipeline="scratch_cnn", config=fast,
                   store_url=store.url, manifest=manifest.to_json(), run_prefix="j/run", version=__version__)
    result = run_shipped(spec.to_dict(), lambda e: None)
    assert not result["ok"]
    assert result["error"]["type"] == "StorageError" and "changed in the store" in result["error"]["message"]


def test_a_lost_sub_task_worker_is_reported_as_lost_not_as_a_user_error(tmp_path, monkeypatch):
    class WorkerCrashedError(Exception):  # what ray.get raises when a fold task's process died
        pass

    def crash(*args, **kwargs):
        raise WorkerCrashedError("gone")

    store = LocalBlobStore(tmp_path / "store")
    monkeypatch.setattr("konstrukt.execution.steps.run_spec", crash)
    spec = JobSpec(kind="train", name="j", store_url=store.url, manifest=Manifest([]).to_json(),
                   run_prefix="j/run", version=__version__)
    result = run_shipped(spec.to_dict(), lambda e: None)
    assert result == {"ok": False, "error": {"type": "lost", "problems": [],
                      "message": "a Ray worker running part of this job died (WorkerCrashedError)"}}


def test_a_worker_with_another_konstrukt_version_says_so():
    check_version(__version__)
    with pytest.raises(ExecutorError) as err:
        check_version("0.0.1")
    assert "konstrukt 0.0.1" in str(err.value) and "pip install 'konstrukt==0.0.1'" in str(err.value)


def test_resources_from_the_config_become_ray_task_options():
    assert TrainConfig().resources.model_dump() == {"cpus": 1.0, "gpus": 0.0, "memory": None}
    res = TrainConfig(resources={"cpus": 2, "gpus": 1, "memory": 1.5}).resources.model_dump()
    opts = task_options(JobSpec(kind="train", name="job-3", resources=res))
    assert opts == {"num_cpus": 2.0, "num_gpus": 1.0, "memory": int(1.5 * 1024 ** 3), "name": "konstrukt-job-3"}
    with pytest.raises(ValueError):
        TrainConfig(resources={"gpus": -1})


def test_executor_by_name_and_environment(monkeypatch):
    assert isinstance(make_executor(), LocalExecutor)
    monkeypatch.setenv("KONSTRUKT_EXECUTOR", "LOCAL")
    assert make_executor().name == "local"
    with pytest.raises(ExecutorError, match="unknown executor"):
        make_executor("slurm")
    from konstrukt.service.settings import settings_from_env

    monkeypatch.setenv("KONSTRUKT_EXECUTOR", "ray")
    monkeypatch.setenv("KONSTRUKT_RAY_ADDRESS", "10.0.0.5:6379")
    s = settings_from_env()
    assert (s.executor, s.ray_address) == ("ray", "10.0.0.5:6379")


def test_ray_executor_without_ray_installed_says_how_to_install(image_data, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    code = main(["train", str(image_data), "--out", str(tmp_path / "run"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'konstrukt[scale]'" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
    code = main(["serve", "--data-dir", str(tmp_path / "svc"), "--executor", "ray"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'konstrukt[scale]'" in err
