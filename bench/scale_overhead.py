"""Scale-out overhead: what S3-compatible storage (and a Ray cluster) add over the embedded default.

    python bench/scale_overhead.py                 # both parts: storage (100 files) and execution
    python bench/scale_overhead.py --files 20 --repeats 1 --jobs 2   # a smoke run
    python bench/scale_overhead.py --only execution

Storage (needs the ``scale`` extra and ``moto[server]``): the S3 side is moto's standalone server on
loopback, so the figures are konstrukt's and boto3's overhead (requests, hashing, copies), not a
network's; a real store adds its round-trip time per request.

1. ``put 100 files``: the blob store's ``put_file`` for 100 PNG digits (≈0.6 KB each) — local folder
   vs S3.
2. ``upload 100 files (service)``: ``POST …/samples`` with 100 files through the web app (each
   file is decoded and checked, then stored) — ``storage_url`` unset vs ``s3://…``.
3. ``fetch a job's data``: materialising a 100-file job manifest — hard links from the local store
   vs download + SHA-256 check from S3.

Execution (needs the ``scale`` extra): seconds from "queued" to "finished" (the job's
``created_at`` → ``finished_at`` in the database) for the same small training job (the offline
CNN on 16 PNG digits, 2 epochs, no CV) submitted through the web app: the local worker process,
``executor=ray`` against a 2-CPU Ray head started on loopback (``ray start --head``), and Ray with
the samples and runs in S3 (moto). The first job of each includes the worker's first import of
torch and, for Ray, the first task's worker process start; later jobs show the steady state.

Each function measures one thing and returns seconds; ``main`` prints one table, local and S3 side
by side with their ratio.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from konstrukt.blobstore import Manifest, ManifestEntry, materialize, open_store  # noqa: E402
from konstrukt.data.samples import file_digest as _sha256  # noqa: E402  (a file's sha256, as the manifest keys it)


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


REPO = Path(__file__).resolve().parents[1]
JOB = {"num_epochs": 2, "cv": 0, "target_size": 0, "image_size": 32, "batch_size": 8}


def start_ray_head(work: Path, cpus: int = 2) -> tuple[str, subprocess.Popen]:
    """A Ray head on loopback in its own process group (stopped by :func:`stop_ray_head`)."""
    port, temp = _free_port(), tempfile.mkdtemp(prefix="krb", dir="/tmp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "RAY_USAGE_STATS_ENABLED": "0", "KONSTRUKT_CACHE": str(work / "cache")}
    log = Path(temp) / "head.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
                             f"--port={port}", f"--num-cpus={cpus}", "--include-dashboard=false",
                             "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                             f"--ray-client-server-port={_free_port()}", f"--temp-dir={temp}"],
                            env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    while b"block forever" not in log.read_bytes():
        if proc.poll() is not None:
            raise SystemExit("the Ray head did not start:\n" + log.read_text(errors="replace"))
        time.sleep(0.5)
    return f"127.0.0.1:{port}", proc


def stop_ray_head(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def time_jobs(executor: str, ray_address: str | None, jobs: int, work: Path,
              storage_url: str | None = None) -> list[float]:
    """Seconds from queued to finished of ``jobs`` identical small jobs, one after another."""
    from fastapi.testclient import TestClient

    from konstrukt.demo import write_digits
    from konstrukt.service import create_app
    from konstrukt.service.db import Job
    from konstrukt.service.settings import Settings

    src = Path(tempfile.mkdtemp(dir=work)) / "digits"
    write_digits(src, per_class=8, classes=(0, 1))
    settings = Settings(data_dir=Path(tempfile.mkdtemp(dir=work)), secret_key="bench", bcrypt_rounds=4,
                        start_worker=True, heartbeat_seconds=0.5, worker_poll_seconds=0.2,
                        executor=executor, ray_address=ray_address, storage_url=storage_url)
    app = create_app(settings)
    times = []
    with TestClient(app) as client:
        csrf = client.post("/api/auth/signup", json={"email": "b@example.com", "password": "bench pass"}
                           ).json()["csrf_token"]
        h = {"X-CSRF-Token": csrf}
        pid = client.post("/api/projects", json={"name": "b", "task": "image"}, headers=h).json()["id"]
        for label in ("zero", "one"):
            cid = client.post(f"/api/projects/{pid}/classes", json={"name": label}, headers=h).json()["id"]
            files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted((src / label).iterdir())]
            assert client.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=h).status_code == 200
        for _ in range(jobs):
            job_id = client.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": JOB},
                                 headers=h).json()["id"]
            while client.get(f"/api/jobs/{job_id}").json()["status"] in ("queued", "running"):
                time.sleep(0.1)
            with app.state.sessions() as db:
                job = db.get(Job, job_id)
                assert job.status == "succeeded", job.error
                times.append((job.finished_at - job.created_at).total_seconds())
    return times


def execution_rows(jobs: int, work: Path) -> list[tuple[str, float, float, float]]:
    """(what, local worker, Ray, Ray + S3 seconds) for the first job and the median of the rest."""
    local = time_jobs("local", None, jobs, work)
    server, bucket = start_moto()  # before the head: its workers inherit the AWS variables
    address, head = start_ray_head(work)
    try:
        on_ray = time_jobs("ray", address, jobs, work)
        ray_s3 = time_jobs("ray", address, jobs, work, storage_url=f"s3://{bucket}/jobs")
    finally:
        stop_ray_head(head)
        server.stop()
    rows = [("small job, first (queued→finished)", local[0], on_ray[0], ray_s3[0])]
    if jobs > 1:
        rows.append((f"small job, median of next {jobs - 1}", statistics.median(local[1:]),
                     statistics.median(on_ray[1:]), statistics.median(ray_s3[1:])))
    return rows


def print_table(title: str, left: str, right: str, rows: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"{'measurement':36} {left:>12} {right:>12} {'ratio':>8} {'added':>9}")
    for what, a, b in rows:
        print(f"{what:36} {a:11.3f}s {b:11.3f}s {b / a if a else float('nan'):7.1f}x {b - a:+8.2f}s")


def print_execution(rows: list[tuple[str, float, float, float]]) -> None:
    print("\nExecution: local worker process vs Ray task (2-CPU head on loopback), and Ray with S3 (moto)")
    print(f"{'measurement':38} {'local':>10} {'Ray':>10} {'added':>8} {'Ray+S3':>10} {'added':>8}")
    for what, a, b, c in rows:
        print(f"{what:38} {a:9.2f}s {b:9.2f}s {b - a:+7.2f}s {c:9.2f}s {c - a:+7.2f}s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=3, help="jobs per executor (the first one is cold)")
    parser.add_argument("--only", choices=["storage", "execution"], default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("KONSTRUKT_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="konstrukt-scale-bench-") as tmp:
        os.environ.setdefault("KONSTRUKT_CACHE", str(Path(tmp) / "cache"))
        if args.only != "execution":
            rows = storage_rows(args.files, args.repeats, Path(tmp))
            print_table("Storage: local folder vs S3 (moto on loopback)", "local", "S3", rows)
        if args.only != "storage":
            print_execution(execution_rows(args.jobs, Path(tmp)))


if __name__ == "__main__":
    main()
