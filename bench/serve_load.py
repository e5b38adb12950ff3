"""Load test of Try it: N concurrent clients posting predictions to the server on loopback.

Starts ``konstrukt.service.serve`` on 127.0.0.1 (loopback only) with a fresh data directory,
trains a small offline model through the API (digits, scratch_cnn), then

1. measures the same model's in-process throughput (``run.predict_one`` in a loop), and
2. runs ``--clients`` concurrent HTTP clients posting the image to ``/api/jobs/{id}/predict`` for
   ``--duration`` seconds — with ``--reads`` each client also reads the job (GET) after every
   prediction — while ``--streams`` idle live-progress streams (Server-Sent Events, on queued jobs
   of other users) stay open,

and prints throughput (and its ratio to in-process; the bar is ≥ 0.7), p50/p99 latency per kind
of request and the error count. With streams, the server is restarted without its training worker
after the model is trained, so the streams' jobs stay queued (idle) and no training competes for
the CPU.

    python bench/serve_load.py [--duration 30] [--clients 16] [--streams 100 --reads]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, worker: bool = True) -> subprocess.Popen:
    code = (f"from konstrukt.service import serve; "
            f"serve(host='127.0.0.1', port={port}, data_dir={str(data_dir)!r})")
    if not worker:
        code = ("import uvicorn; from konstrukt.service import create_app; "
                "from konstrukt.service.settings import settings_from_env; "
                f"s = settings_from_env(data_dir={str(data_dir)!r}).with_(start_worker=False); "
                f"uvicorn.run(create_app(s), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=open(data_dir.parent / "server.log", "ab"))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/login", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"server did not start; see {data_dir.parent / 'server.log'}")


def train_model(base: str, images: Path, epochs: int) -> tuple[dict, int]:
    """Sign up, create a token, upload the digits, train; return (auth header, job id)."""
    c = httpx.Client(base_url=base, timeout=60)
    me = c.post("/api/auth/signup", json={"email": "bench@example.com", "password": "bench password"})
    me.raise_for_status()
    token = c.post("/api/tokens", json={"name": "bench"},
                   headers={"X-CSRF-Token": me.json()["csrf_token"]}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    pid = c.post("/api/projects", json={"name": "bench", "task": "image"}, headers=auth).json()["id"]
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        cid = c.post(f"/api/projects/{pid}/classes", json={"name": folder.name}, headers=auth).json()["id"]
        files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(folder.iterdir())]
        c.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=auth).raise_for_status()
    config = {"num_epochs": epochs, "cv": 0, "target_size": 0}
    job = c.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": config}, headers=auth)
    job.raise_for_status()
    job_id = job.json()["id"]
    while (status := c.get(f"/api/jobs/{job_id}", headers=auth).json())["status"] in ("queued", "running"):
        time.sleep(0.5)
    if status["status"] != "succeeded":
        raise SystemExit(f"training failed: {status['error']}")
    return auth, job_id


def stream_users(base: str, images: Path, users: int) -> list[tuple[dict, int]]:
    """``users`` accounts, each with a project and a training job (queued, never run)."""
    out = []
    for n in range(users):
        c = httpx.Client(base_url=base, timeout=60)
        me = c.post("/api/auth/signup", json={"email": f"watcher{n}@example.com", "password": "watcher password"})
        me.raise_for_status()
        token = c.post("/api/tokens", json={"name": "watch"}, headers={"X-CSRF-Token": me.json()["csrf_token"]})
        auth = {"Authorization": f"Bearer {token.json()['token']}"}
        pid = c.post("/api/projects", json={"name": "watched", "task": "image"}, headers=auth).json()["id"]
        for folder in sorted(p for p in images.iterdir() if p.is_dir())[:2]:
            cid = c.post(f"/api/projects/{pid}/classes", json={"name": folder.name}, headers=auth).json()["id"]
            files = [("files", (p.name, p.read_bytes(), "image/png")) for p in sorted(folder.iterdir())[:4]]
            c.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=auth).raise_for_status()
        job = c.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn"}, headers=auth)
        job.raise_for_status()
        out.append((auth, job.json()["id"]))
    return out


async def open_streams(host: str, port: int, watchers: list[tuple[dict, int]], count: int, errors: list):
    """Open ``count`` event streams spread over the watchers; return their writers (to close later)."""
    opened = []
    for n in range(count):
        auth, job_id = watchers[n % len(watchers)]
        reader, writer = await asyncio.open_connection(host, port)
        head = [f"GET /api/jobs/{job_id}/events HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
        writer.write(("\r\n".join(head + [f"{k}: {v}" for k, v in auth.items()]) + "\r\n\r\n").encode())
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        if status != 200:
            errors.append(f"stream {n}: HTTP {status}")
        opened.append(writer)
    return opened


def in_process_throughput(run_dir: Path, image: Path, seconds: float) -> float:
    import konstrukt

    run = konstrukt.load_run(run_dir)
    run.predict_one(image)  # warm up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run.predict_one(image)
        n += 1
    return n / (time.perf_counter() - start)


def in_process_batched_throughput(run_dir: Path, image: Path, seconds: float, batch: int) -> float:
    """The same model fed ``batch`` files per call: the ceiling the server's batching can reach."""
    import konstrukt

    run = konstrukt.load_run(run_dir)
    run.predict([image] * batch)  # warm up
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run.predict([image] * batch)
        n += batch
    return n / (time.perf_counter() - start)


def multipart_request(host: str, port: int, path: str, auth: dict, image: Path) -> bytes:
    """One complete HTTP/1.1 keep-alive POST of ``image`` as multipart, built once and re-sent."""
    boundary = "konstruktbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{image.name}\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + image.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive",
            f"Content-Type: multipart/form-data; boundary={boundary}", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in auth.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return int(status_line.split()[1]), body


async def load(host: str, port: int, auth: dict, job_id: int, image: Path, clients: int, seconds: float,
               reads: bool = False, streams: int = 0, watchers: list | None = None):
    """``clients`` keep-alive connections, each posting the image again as soon as it has an answer
    (and reading the job after each prediction with ``reads``), with ``streams`` idle streams open.

    A minimal asyncio HTTP client, so that the load generator (sharing the CPU with the server)
    spends little time per request and the figures measure the server."""
    request = multipart_request(host, port, f"/api/jobs/{job_id}/predict", auth, image)
    read = ("\r\n".join([f"GET /api/jobs/{job_id} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive",
                          *(f"{k}: {v}" for k, v in auth.items())]) + "\r\n\r\n").encode()
    latencies: list[float] = []
    read_latencies: list[float] = []
    errors: list[str] = []
    opened = await open_streams(host, port, watchers or [], streams, errors) if streams else []
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    writer.write(request)
                    await writer.drain()
                    status, body = await read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    errors.append(repr(exc))
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                if status != 200 or b'"label"' not in body:
                    errors.append(f"HTTP {status}: {body[:200]!r}")
                    continue
                latencies.append(time.perf_counter() - t0)
                if reads:
                    t0 = time.perf_counter()
                    try:
                        writer.write(read)
                        await writer.drain()
                        status, body = await read_response(reader)
                    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                        errors.append(repr(exc))
                        continue
                    if status != 200:
                        errors.append(f"GET HTTP {status}: {body[:200]!r}")
                        continue
                    read_latencies.append(time.perf_counter() - t0)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    for w in opened:
        w.close()
    return latencies, read_latencies, errors, elapsed


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (default 30)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs of the model under test")
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="in-process measurement time")
    parser.add_argument("--streams", type=int, default=0, help="idle live-progress streams kept open (e.g. 100)")
    parser.add_argument("--reads", action="store_true", help="each client also GETs the job after each prediction")
    args = parser.parse_args(argv)
    # Server and in-process baseline run with the same OpenMP setting (the one `serve` sets),
    # chosen before anything starts OpenMP.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from konstrukt.demo import write_digits

    with tempfile.TemporaryDirectory(prefix="konstrukt-bench-") as tmp:
        tmp = Path(tmp)
        images = write_digits(tmp / "digits", per_class=15, classes=(0, 1, 2), extra_per_class=1)
        image = sorted((tmp / "digits_new" / "one").iterdir())[0]
        data_dir = tmp / "server"
        data_dir.mkdir()
        port = free_port()
        server = start_server(data_dir, port)
        base = f"http://127.0.0.1:{port}"
        try:
            print(f"server on {base} (loopback only); training a small model …", flush=True)
            auth, job_id = train_model(base, images, args.epochs)
            run_dir = next(data_dir.glob(f"projects/*/jobs/{job_id}/run"))
            local = in_process_throughput(run_dir, image, args.baseline_seconds)
            print(f"in-process run.predict_one: {local:.1f} predictions/s", flush=True)
            batched = in_process_batched_throughput(run_dir, image, args.baseline_seconds, args.clients)
            print(f"in-process run.predict, {args.clients} files per call: {batched:.1f} predictions/s",
                  flush=True)
            watchers = []
            if args.streams:  # the same data, served by a server without a worker: queued jobs stay idle
                server.terminate()
                server.wait(30)
                server = start_server(data_dir, port, worker=False)
                watchers = stream_users(base, images, users=-(-args.streams // 20))  # 20 streams per user
            httpx.post(f"{base}/api/jobs/{job_id}/predict", headers=auth,
                       files={"file": (image.name, image.read_bytes(), "image/png")}, timeout=60)  # warm
            latencies, read_latencies, errors, elapsed = asyncio.run(
                load("127.0.0.1", port, auth, job_id, image, args.clients, args.duration, args.reads,
                     args.streams, watchers))
        finally:
            server.terminate()
            server.wait(30)

    served = len(latencies) / elapsed
    ratio = served / local if local else float("nan")
    print(f"\n{args.clients} clients × {args.duration:.0f} s over HTTP on loopback"
          + (f", {args.streams} idle event streams open" if args.streams else "")
          + (", a GET of the job after each prediction" if args.reads else ""))
    print(f"  requests ok      {len(latencies)}")
    print(f"  errors           {len(errors)}" + (f"  (first: {errors[0]})" if errors else ""))
    print(f"  throughput       {served:.1f} predictions/s")
    print(f"  in-process       {local:.1f} predictions/s")
    bar = "not comparable: clients also read" if args.reads else ("met" if ratio >= 0.7 else "NOT met")
    print(f"  ratio            {ratio:.2f}  (bar ≥ 0.70: {bar})")
    print(f"  in-process, batched {batched:.1f} predictions/s ({args.clients} files per call; "
          f"served / batched = {served / batched:.2f})")
    print(f"  latency p50      {1000 * percentile(latencies, 50):.1f} ms")
    print(f"  latency p99      {1000 * percentile(latencies, 99):.1f} ms")
    if args.reads:
        both = latencies + read_latencies
        print(f"  GET job          {len(read_latencies)} ok; p50 {1000 * percentile(read_latencies, 50):.1f} ms, "
              f"p99 {1000 * percentile(read_latencies, 99):.1f} ms")
        print(f"  all requests     p99 {1000 * percentile(both, 99):.1f} ms (bar < 1000 ms: "
              f"{'met' if percentile(both, 99) < 1 else 'NOT met'})")
    if args.reads:
        return 0 if not errors and percentile(latencies + read_latencies, 99) < 1 else 1
    return 0 if not errors and ratio >= 0.7 else 1


if __name__ == "__main__":
    sys.exit(main())
