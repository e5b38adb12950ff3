"""Real scale-out parts on loopback: an S3-compatible server (moto's standalone server) and a Ray
cluster (``ray start --head``, 2 CPUs, one per test module).

The store is reached the way a user reaches MinIO or AWS: through the standard AWS variables. The
Ray cluster's worker processes inherit the environment of the head: offline, a private embedding
cache, and PYTHONPATH pointing at this checkout (so the tasks run the konstrukt under test).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3", reason="the S3 tests need boto3: pip install -e '.[test,scale]'")
moto_server = pytest.importorskip("moto.server", reason="the S3 tests need moto[server]: "
                                                        "pip install -e '.[test,scale]'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


AWS_ENV = {"AWS_ACCESS_KEY_ID": "konstrukt-test", "AWS_SECRET_ACCESS_KEY": "konstrukt-test-secret",
           "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint():
    """The URL of a moto S3 server running in this process on a free loopback port."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request log lines
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """The AWS variables pointing at the loopback server (as a user would export them)."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return s3_endpoint


@pytest.fixture
def bucket(s3_env) -> str:
    """A fresh bucket on the loopback server."""
    name = f"konstrukt-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def unused_port():
    """A function giving a loopback port nothing listens on (yet)."""
    return free_port


@pytest.fixture
def dead_endpoint() -> str:
    """An S3 endpoint URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def s3_url(bucket) -> str:
    return f"s3://{bucket}/data"


# --------------------------------------------------------------------------- Ray

sys.path.insert(0, str(Path(__file__).parents[1] / "service"))  # service_helpers

REPO = Path(__file__).parents[2]


def start_ray_head(cache: Path, num_cpus: int = 2, extra_env: dict | None = None):
    """Start a head node in its own process group; return (address, Popen). ``extra_env`` reaches
    every worker process of the cluster (e.g. the AWS variables of the S3 server)."""
    pytest.importorskip("ray", reason="Ray is not installed: pip install -c constraints.txt -e '.[scale]'")
    port = free_port()
    temp = tempfile.mkdtemp(prefix="kr", dir="/tmp")  # short: Ray's unix socket paths have a length limit
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "KONSTRUKT_OFFLINE": "1", "KONSTRUKT_CACHE": str(cache), "RAY_USAGE_STATS_ENABLED": "0",
           "OMP_WAIT_POLICY": "PASSIVE", **(extra_env or {})}
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}",
           f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
           "--node-ip-address=127.0.0.1", f"--ray-client-server-port={free_port()}",
           f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
           f"--temp-dir={temp}"]
    log = open(Path(temp) / "head.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while b"block forever" not in (Path(temp) / "head.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_ray_head(proc)
            pytest.fail("the Ray head did not start:\n" + (Path(temp) / "head.log").read_text(errors="replace"))
        time.sleep(0.5)
    return address, proc


def stop_ray_head(proc: subprocess.Popen) -> None:
    """Stop this head and every process it started (its own process group; no other Ray is touched)."""
    try:  # a few seconds to stop cleanly (`ray start --block` may wait longer); then the group goes
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """The address of a real 2-CPU Ray cluster on loopback, for this module's tests."""
    address, proc = start_ray_head(tmp_path_factory.mktemp("ray-cache"))
    yield address
    import ray

    if ray.is_initialized():
        ray.shutdown()
    stop_ray_head(proc)


@pytest.fixture(scope="module")
def ray_with_s3(s3_endpoint, tmp_path_factory):
    """A Ray head whose workers see the loopback S3 server (as a node would have AWS_* set)."""
    address, proc = start_ray_head(tmp_path_factory.mktemp("ray-cache"),
                                   extra_env={**AWS_ENV, "AWS_ENDPOINT_URL": s3_endpoint})
    yield address
    import ray

    if ray.is_initialized():
        ray.shutdown()
    stop_ray_head(proc)


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    """Real images (sklearn digits as PNG), two classes × 8, plus unseen ones in ``digits_new``."""
    from konstrukt.demo import write_digits

    dest = tmp_path_factory.mktemp("src") / "digits"
    write_digits(dest, per_class=8, classes=(0, 1), extra_per_class=2)
    return dest
