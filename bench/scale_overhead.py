"""Scale-out overhead: what S3-compatible storage (and a Ray cluster) add over the embedded default.

    python bench/scale_overhead.py                 # 100 files, median of 3 repeats
    python bench/scale_overhead.py --files 20 --repeats 1   # a smoke run

Storage (needs the ``scale`` extra and ``moto[server]``): the S3 side is moto's standalone server on
loopback, so the figures are konstrukt's and boto3's overhead (requests, hashing, copies), not a
network's; a real store adds its round-trip time per request.

1. ``put 100 files``: the blob store's ``put_file`` for 100 PNG digits (≈0.6 KB each) — local folder
   vs S3.
2. ``upload 100 files (service)``: ``POST …/samples`` with 100 files through the web app (each
   file is decoded and checked, then stored) — ``storage_url`` unset vs ``s3://…``.
3. ``fetch a job's data``: materialising a 100-file job manifest — hard links from the local store
   vs download + SHA-256 check from S3.

Each function measures one thing and returns seconds; ``main`` prints one table, local and S3 side
by side with their ratio.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from konstrukt.blobstore import Manifest, ManifestEntry, materialize, open_store  # noqa: E402
from konstrukt.blobstore.manifest import _sha256  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[object, str]:
    """A moto S3 server on loopback, the AWS variables pointing at it; returns (server, bucket)."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    return server, bucket


def sample_files(root: Path, n: int) -> list[Path]:
    """``n`` real PNG images (scikit-learn's digits), two classes."""
    from konstrukt.demo import write_digits

    per_class = (n + 1) // 2
    write_digits(root, per_class=per_class, classes=(0, 1))
    files = sorted(p for p in root.rglob("*.png"))
    return files[:n]


def _median(fn, repeats: int) -> float:
    return statistics.median(fn() for _ in range(repeats))


def time_put(store_url: str, files: list[Path], repeats: int) -> float:
    """Seconds to put every file into a fresh prefix of the store."""
    store = open_store(store_url)

    def once() -> float:
        prefix = f"bench/{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        for i, path in enumerate(files):
            store.put_file(f"{prefix}/{i}{path.suffix}", path)
        took = time.perf_counter() - start
        store.delete_prefix(prefix)
        return took

    return _median(once, repeats)


def time_service_upload(storage_url: str | None, files: list[Path], repeats: int, work: Path) -> float:
    """Seconds for one ``POST /api/projects/{id}/classes/{id}/samples`` carrying every file."""
    from fastapi.testclient import TestClient

    from konstrukt.service import create_app
    from konstrukt.service.settings import Settings

    payload = [("files", (p.name, p.read_bytes(), "image/png")) for p in files]
    times = []
    for _ in range(repeats):
        data_dir = Path(tempfile.mkdtemp(dir=work))
        app = create_app(Settings(data_dir=data_dir, storage_url=storage_url, secret_key="bench",
                                  start_worker=False, bcrypt_rounds=4))
        with TestClient(app) as client:
            csrf = client.post("/api/auth/signup", json={"email": "b@example.com", "password": "bench pass"}
                               ).json()["csrf_token"]
            h = {"X-CSRF-Token": csrf}
            pid = client.post("/api/projects", json={"name": "b", "task": "image"}, headers=h).json()["id"]
            cid = client.post(f"/api/projects/{pid}/classes", json={"name": "x"}, headers=h).json()["id"]
            start = time.perf_counter()
            r = client.post(f"/api/projects/{pid}/classes/{cid}/samples", files=payload, headers=h)
            times.append(time.perf_counter() - start)
            assert r.status_code == 200 and len(r.json()["added"]) == len(set(map(_sha256, files))), r.text
    return statistics.median(times)


def time_materialize(store_url: str, files: list[Path], repeats: int, work: Path) -> float:
    """Seconds to lay out a job's files from its manifest (links locally, download + hash on S3)."""
    store = open_store(store_url)
    entries = []
    for i, path in enumerate(files):
        key = f"samples/{i}{path.suffix}"
        store.put_file(key, path)
        entries.append(ManifestEntry(key=key, path=f"{path.parent.name}/{i}{path.suffix}",
                                     sha256=_sha256(path), size=path.stat().st_size, name=path.name))
    manifest = Manifest(entries)

    def once() -> float:
        dest = Path(tempfile.mkdtemp(dir=work)) / "data"
        start = time.perf_counter()
        materialize(store, manifest, dest)
        return time.perf_counter() - start

    took = _median(once, repeats)
    store.delete_prefix("samples")
    return took


def storage_rows(n: int, repeats: int, work: Path) -> list[tuple[str, float, float]]:
    """(what, local seconds, S3 seconds) for each storage measurement."""
    server, bucket = start_moto()
    try:
        files = sample_files(work / "src", n)
        local_root = work / "local-store"
        s3 = f"s3://{bucket}/bench"
        time_service_upload(None, files[:4], 1, work)  # warm-up: imports, first decode, first request
        return [
            (f"put {n} files (blob store)", time_put(str(local_root), files, repeats), time_put(s3, files, repeats)),
            (f"upload {n} files (service POST)", time_service_upload(None, files, repeats, work),
             time_service_upload(s3, files, repeats, work)),
            (f"fetch a job's data ({n} files)", time_materialize(str(local_root / "m"), files, repeats, work),
             time_materialize(s3, files, repeats, work)),
        ]
    finally:
        server.stop()


def print_table(title: str, left: str, right: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{'measurement':36} {left:>12} {right:>12} {'ratio':>8} {'added':>9}")
    for what, a, b in rows:
        print(f"{what:36} {a:11.3f}s {b:11.3f}s {b / a if a else float('nan'):7.1f}x {b - a:+8.2f}s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("KONSTRUKT_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="konstrukt-scale-bench-") as tmp:
        rows = storage_rows(args.files, args.repeats, Path(tmp))
    print_table("Storage: local folder vs S3 (moto on loopback)", "local", "S3", rows)


if __name__ == "__main__":
    main()
