"""A real S3-compatible server (moto's standalone server) on loopback for the scale-out tests.

The store is reached the way a user reaches MinIO or AWS: through the standard AWS variables.
"""
from __future__ import annotations

import logging
import socket
import uuid

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
