"""Abuse cases against a live server on loopback, one or more per item of the hardening issue (#7):
for each, the case, the HTTP status (or outcome) and whether a bystander's stored data is intact.

Starts ``konstrukt serve`` on 127.0.0.1 with a fresh data directory (restarting and killing it with
SIGKILL where a case needs it), stores a bystander's project first, and checks it — every sample's
bytes — after each case. Ends with the totals: leaks, 5xx answers, data intact.

    python bench/serve_abuse.py
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import os
import signal
import stat
import sys
import tempfile
import threading
import time
import wave
import zipfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from serve_load import free_port, start_server  # noqa: E402

FAST = {"num_epochs": 2, "cv": 0, "target_size": 0, "image_size": 32}
SERVER_ROOTS = ("/tmp/", "/dev/shm", "/var/")


class Bench:
    def __init__(self, data_dir: Path, images: Path):
        self.data_dir, self.images = data_dir, images
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.five_xx: list[str] = []
        self.leaks = 0
        self.broken = 0

    # -- server
    def start(self, worker: bool = True) -> None:
        self.server = start_server(self.data_dir, self.port, worker=worker)

    def kill(self) -> None:
        os.kill(self.server.pid, signal.SIGKILL)
        self.server.wait()

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(30)

    # -- clients
    def client(self) -> httpx.Client:
        def count(response: httpx.Response) -> None:
            if response.status_code >= 500:
                self.five_xx.append(f"{response.request.method} {response.request.url.path}: {response.status_code}")

        return httpx.Client(base_url=self.base, timeout=120, event_hooks={"response": [count]})

    def user(self, email: str, password: str = "a long password") -> tuple[httpx.Client, dict]:
        c = self.client()
        r = c.post("/api/auth/signup", json={"email": email, "password": password})
        if r.status_code == 409:
            r = c.post("/api/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        return c, {"X-CSRF-Token": r.json()["csrf_token"]}

    def project(self, c, h, name="P", task="image", classes=("zero", "one"), per_class=8) -> dict:
        pid = c.post("/api/projects", json={"name": name, "task": task}, headers=h).json()["id"]
        for cls in classes:
            cid = c.post(f"/api/projects/{pid}/classes", json={"name": cls}, headers=h).json()["id"]
            src = self.images / ("zero" if cls in ("zero", "cat") else "one")
            if per_class:
                files = [("files", (p.name, p.read_bytes())) for p in sorted(src.iterdir())[:per_class]]
                c.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=h).raise_for_status()
        return c.get(f"/api/projects/{pid}").json()

    def train(self, c, h, pid: int) -> int:
        job = c.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": FAST}, headers=h)
        job.raise_for_status()
        while (status := c.get(f"/api/jobs/{job.json()['id']}").json())["status"] in ("queued", "running"):
            time.sleep(0.3)
        assert status["status"] == "succeeded", status
        return status["id"]

    # -- the bystander
    def keep(self) -> None:
        self.keeper, self.keeper_h = self.user("bystander@example.com")
        self.kept = self.project(self.keeper, self.keeper_h, "bystander")
        self.fingerprint = self.snapshot()

    def snapshot(self) -> list[tuple[int, str]]:
        c = self.keeper
        project = c.get(f"/api/projects/{self.kept['id']}").json()
        return sorted((s["id"], hashlib.sha256(c.get(f"/api/samples/{s['id']}/file").content).hexdigest())
                      for cls in project["classes"] for s in cls["samples"])

    def row(self, item: str, case: str, status, leak: bool | None = None) -> None:
        if self.server.poll() is None:  # (the session cookie outlives restarts: same secret key)
            intact = self.snapshot() == self.fingerprint
        else:
            intact = None
        self.broken += intact is False
        self.leaks += bool(leak)
        extra = "" if leak is None else f"  leak: {'YES' if leak else 'no'}"
        print(f"{item:>3}  {case:<66} {str(status):<14} stored data intact: "
              f"{'-' if intact is None else ('yes' if intact else 'NO')}{extra}", flush=True)


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def sparse(size: int, ratio: int = 150) -> bytes:
    """``size`` bytes that deflate about ``ratio`` times (random bytes in a sea of zeros)."""
    block = 64 * 1024
    noisy = os.urandom(block // ratio) + bytes(block - block // ratio)
    return noisy * (size // block)


def bomb_of(members: int, size: int) -> bytes:
    """``members`` members of ``size`` bytes each, deflating ~150x (streamed: never all in memory)."""
    chunk = sparse(4 * 1024**2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(members):
            with zf.open(f"m/{n}.png", "w", force_zip64=True) as out:
                for _ in range(size // len(chunk)):
                    out.write(chunk)
    return buf.getvalue()


def wav(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate))
    return buf.getvalue()


def workers_of(data_dir: Path) -> list[int]:
    out = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if b"konstrukt.service.worker" in cmd and str(data_dir).encode() in cmd and state != "Z":
            out.append(int(proc.name))
    return out


def wait_until(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    return predicate()


def no_paths(text: str, data_dir: Path) -> bool:
    return str(data_dir) not in text and not any(root in text for root in SERVER_ROOTS)


# ------------------------------------------------------------------ the cases

def case_leak(b: Bench) -> None:
    a, ah = b.user("tenant-a@example.com")
    project = b.project(a, ah, "A")
    job_a = b.train(a, ah, project["id"])
    image = sorted((b.images.parent / "digits_new" / "one").iterdir())[0]
    files = {"file": (image.name, image.read_bytes())}
    a.post(f"/api/jobs/{job_a}/predict", files=files, headers=ah)
    a.delete(f"/api/projects/{project['id']}", headers=ah)
    bb, bh = b.user("tenant-b@example.com")
    project_b = b.project(bb, bh, "B", classes=("cat", "dog"))
    job_b = b.train(bb, bh, project_b["id"])
    r = bb.post(f"/api/jobs/{job_b}/predict", files=files, headers=bh)
    leak = set(r.json().get("probabilities", {})) != {"cat", "dog"} or job_b == job_a
    b.row("1", f"A's warm model after A deletes; B's job {job_b} (A's was {job_a}) predicts", r.status_code, leak)


async def _streams(b: Bench) -> tuple[int, float, float, int]:
    watchers = []
    for n in range(5):
        c, h = b.user(f"watcher{n}@example.com")
        project = b.project(c, h, "W", per_class=4)
        job = c.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn"}, headers=h).json()["id"]
        watchers.append((dict(c.cookies), job))
    clients = [httpx.AsyncClient(base_url=b.base, cookies=cookies, timeout=60,
                                 limits=httpx.Limits(max_connections=40)) for cookies, _ in watchers]
    opened = []
    try:
        for client, (_, job) in zip(clients, watchers):
            for _ in range(20):
                r = await client.send(client.build_request("GET", f"/api/jobs/{job}/events"), stream=True)
                opened.append(r)
        extra = await clients[0].get(f"/api/jobs/{watchers[0][1]}/events")
        other, oh = b.user("busy@example.com")
        times = []
        for i in range(20):
            t0 = time.perf_counter()
            other.post("/api/projects", json={"name": f"p{i}", "task": "image"}, headers=oh).raise_for_status()
            other.get("/api/projects").raise_for_status()
            times.append(time.perf_counter() - t0)
        return sum(r.status_code == 200 for r in opened), max(times), sorted(times)[len(times) // 2], extra.status_code
    finally:
        for r in opened:
            await r.aclose()
        for c in clients:
            await c.aclose()


def case_streams(b: Bench) -> None:
    ok, worst, median, extra = asyncio.run(_streams(b))
    b.row("2", f"{ok} idle event streams open; another user's write+read: median {1000 * median:.0f} ms, "
               f"max {1000 * worst:.0f} ms", 200 if worst < 1 else f"SLOW {worst:.1f}s")
    b.row("2", "a user's 21st stream", extra)


def case_zips(b: Bench, c, h, project) -> None:
    cid = project["classes"][0]["id"]
    url = f"/api/projects/{project['id']}/classes/{cid}/samples"
    cases = [("40 all-zero members of 512 KiB (each under the per-member check)",
              zip_of({f"z/{n}.png": bytes(512 * 1024) for n in range(40)})),
             ("102 members x 40 MiB at ~150x (the reported 4 GiB case)", bomb_of(102, 40 * 1024**2)),
             ("a member named ../../escape.png", zip_of({"../../escape.png": b"x"})),
             ("only __MACOSX/ and hidden files", zip_of({"__MACOSX/._a.png": b"x", ".DS_Store": b"x"}))]
    for what, data in cases:
        tmp_before = sum(1 for _ in (b.data_dir / "tmp").rglob("*"))
        r = c.post(url, files=[("files", ("upload.zip", data))], headers=h)
        body = r.json()
        refused = not body.get("added") and body.get("rejected")
        msg = body["rejected"][0]["error"][:60] if refused else "ACCEPTED"
        left = sum(1 for _ in (b.data_dir / "tmp").rglob("*")) - tmp_before
        b.row("3", f"zip, {what} ({len(data) // 1024} KiB)", f"{r.status_code} refused" if refused else r.status_code)
        print(f"       → {msg!r}; files left in tmp: {left}; server paths in message: "
              f"{'no' if no_paths(str(body), b.data_dir) else 'YES'}")


def case_hostile(b: Bench, c, h, project) -> None:
    big = str(2**63)
    for method, url in (("GET", f"/api/projects/{big}"), ("GET", f"/api/jobs/{big}"),
                        ("DELETE", f"/api/samples/{big}"), ("GET", f"/api/samples/{big}/file"),
                        ("PATCH", f"/api/projects/{project['id']}/classes/{big}"),
                        ("GET", f"/api/jobs/{big}/events"), ("DELETE", f"/api/tokens/{big}")):
        r = c.request(method, url, headers=h, json={"name": "x"} if method == "PATCH" else None)
        b.row("5", f"{method} {url.replace(big, '2**63')}", r.status_code)
    job = c.get(f"/api/projects/{project['id']}/jobs").json()
    job_id = job[0]["id"] if job else 1
    for value in ("abc", "9" * 40):
        r = c.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": value})
        b.row("5", f"Last-Event-ID: {value[:12]}", r.status_code)
    # delete a class while its upload runs
    cid = c.post(f"/api/projects/{project['id']}/classes", json={"name": "doomed"}, headers=h).json()["id"]
    files = [("files", (f"{n}.png", p.read_bytes())) for n, p in
             enumerate(sorted((b.images / "zero").iterdir()) * 25)]
    result = {}
    upload = threading.Thread(target=lambda: result.setdefault("r", c.post(
        f"/api/projects/{project['id']}/classes/{cid}/samples", files=files, headers=h)))
    upload.start()
    time.sleep(0.3)
    d = c.delete(f"/api/projects/{project['id']}/classes/{cid}", headers=h)
    upload.join()
    b.row("5", "delete a class while its upload runs (upload, delete; a race: either order)",
          f"{result['r'].status_code}, {d.status_code}")


def case_auth(b: Bench) -> None:
    long = "many words make a long password " * 4  # first: the guessing below blocks this address
    b.user("long@example.com", long)
    r = b.client().post("/api/auth/login", json={"email": "long@example.com", "password": long[:90] + "other tail"})
    b.row("6", "a 128-character password with another tail after byte 90", r.status_code)
    b.user("victim@example.com", "the right password")
    guesser = b.client()
    codes = [guesser.post("/api/auth/login", json={"email": "victim@example.com", "password": f"guess{n}"}).status_code
             for n in range(11)]
    r = guesser.post("/api/auth/login", json={"email": "victim@example.com", "password": "the right password"})
    b.row("6", f"11 wrong passwords ({codes.count(401)}x401, then {codes[-1]}), then the right one", 
          f"{r.status_code} Retry-After {r.headers.get('retry-after')}")
    r = b.client().post("/api/auth/signup", json={"email": "weak@example.com", "password": "1234567890"})
    b.row("6", "sign up with password 1234567890", r.status_code)
    r = b.client().post("/api/auth/signup", json={"email": "victim@example.com", "password": "another long one"})
    b.row("6", f"sign up with a taken e-mail: {r.json()['detail'][:45]!r}", r.status_code)
    c, h = b.user("leaver@example.com")
    stolen = b.client()
    stolen.cookies.update(c.cookies)
    c.post("/api/auth/logout", headers=h)
    b.row("6", "a copy of the session cookie after sign-out", stolen.get("/api/projects").status_code)
    modes = {name: oct(stat.S_IMODE((b.data_dir / name).stat().st_mode)) for name in ("konstrukt.db", "secret_key")}
    b.row("6", f"permissions: data dir {oct(stat.S_IMODE(b.data_dir.stat().st_mode))}, {modes}", "-")


def case_paths_and_small(b: Bench, c, h, project) -> None:
    jobs = c.get(f"/api/projects/{project['id']}/jobs").json()
    if jobs and jobs[0]["status"] == "succeeded":
        r = c.post(f"/api/jobs/{jobs[0]['id']}/predict", files={"file": ("holiday.png", b"\x89PNG not really")}, headers=h)
        b.row("8", f"predict on a broken png: paths {'none' if no_paths(r.text, b.data_dir) else 'SHOWN'}; "
                   f"names holiday.png: {'yes' if 'holiday.png' in r.text else 'no'}", r.status_code)
    empty = b.project(c, h, "empty", per_class=0)
    r = c.post(f"/api/projects/{empty['id']}/jobs", json={"pipeline": "scratch_cnn"}, headers=h)
    b.row("8", f"train with no examples: paths {'none' if no_paths(r.text, b.data_dir) else 'SHOWN'}", r.status_code)
    sound = b.project(c, h, "S", task="sound", classes=("beep",), per_class=0)
    cid = sound["classes"][0]["id"]
    r = c.post(f"/api/projects/{sound['id']}/classes/{cid}/samples", files=[("files", ("blip.wav", wav(0.05)))], headers=h)
    b.row("9", f"a 50 ms recording: {r.json()['rejected'][0]['error'][:50]!r}", r.status_code)
    many = b.project(c, h, "many", classes=(), per_class=0)
    codes = [c.post(f"/api/projects/{many['id']}/classes", json={"name": f"c{n}"}, headers=h).status_code
             for n in range(501)]
    b.row("9", f"501 classes in one project ({codes.count(201)} created)", codes[-1])


def case_crash(b: Bench) -> None:
    """Kill -9 the server during an upload, twice; restart each time."""
    c, h = b.user("crasher@example.com")
    project = b.project(c, h, "crash", per_class=0)
    cid = project["classes"][0]["id"]
    worker = workers_of(b.data_dir)
    big = zip_of({f"d/{n}.png": p.read_bytes() for n, p in enumerate(sorted((b.images / "zero").iterdir()) * 60)})
    for round_ in (1, 2):
        threading.Thread(target=lambda: _quiet(lambda: c.post(
            f"/api/projects/{project['id']}/classes/{cid}/samples", files=[("files", ("big.zip", big))],
            headers=h)), daemon=True).start()
        time.sleep(0.4)
        b.kill()
        gone = wait_until(lambda: not workers_of(b.data_dir), 20)
        left = sum(1 for _ in (b.data_dir / "tmp").rglob("*"))
        b.row("4", f"kill -9 of the server (round {round_}): its worker {worker} exits", "gone" if gone else "ORPHAN")
        b.start()
        worker = wait_until(lambda: workers_of(b.data_dir), 60)
        after = sum(1 for _ in (b.data_dir / "tmp").rglob("*"))
        b.row("7", f"restart after kill -9 mid-upload: staged entries {left} → {after}; workers {len(worker)}",
              "clean" if after == 0 else "LEFT")
    files = [("files", (p.name, p.read_bytes())) for p in sorted((b.images / "one").iterdir())[:3]]
    first = c.post(f"/api/projects/{project['id']}/classes/{cid}/samples", files=files, headers=h).json()
    again = c.post(f"/api/projects/{project['id']}/classes/{cid}/samples", files=files, headers=h).json()
    count = c.get(f"/api/projects/{project['id']}").json()["sample_count"]
    b.row("7", f"the same upload retried: added {len(first['added'])} then {len(again['added'])}; "
               f"{count} stored", "no duplicates" if len(again["added"]) == 0 else "DUPLICATES")


# ------------------------------------------------------------------ issue 20, item 3: decoded size
# Small uploads that decode to a lot. Each case watches the server process's RSS (sampled every
# 10 ms) around one request: "peak" is the highest RSS seen minus the RSS before, "after" what
# stays once the answer is back (glibc keeps freed memory, so "after" can stay near "peak").

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from hostile_files import csv_table, flac_silence, npz_of_zeros, png, png16  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RssWatch:
    """The server's RSS before, at its highest during, and after a block of requests."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()

    def __enter__(self) -> "RssWatch":
        self.before = self.peak = rss_mb(self.pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb(self.pid))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.after = rss_mb(self.pid)
        self.peak = max(self.peak, self.after)

    def __str__(self) -> str:
        return (f"RSS {self.before:.0f} MB, ΔRSS peak {self.peak - self.before:+.0f} MB, "
                f"after {self.after - self.before:+.0f} MB")


def _outcome(r: httpx.Response) -> tuple[str, str]:
    """(status, first words of the answer) of an upload or a Try it request."""
    body = r.json()
    if "rejected" in body:
        if body["rejected"]:
            return f"{r.status_code} refused", body["rejected"][0]["error"][:110]
        return f"{r.status_code} ACCEPTED", ""
    if r.status_code == 200:
        return "200 predicted", body.get("label", "")
    return str(r.status_code), str(body.get("problems") or body.get("detail"))[:110]


def _decode_row(b: Bench, case: str, watch: RssWatch, r: httpx.Response) -> None:
    status, words = _outcome(r)
    b.row("20.3", case, status)
    print(f"       → {watch}; {words!r}", flush=True)


def case_decode_png(b: Bench, c, h, project) -> None:
    """A 171 kB 16-bit 9400 × 9400 PNG: upload, two uploads at once, and Try it."""
    data = png16(9400, 9400)
    url = f"/api/projects/{project['id']}/classes/{project['classes'][0]['id']}/samples"
    with RssWatch(b.server.pid) as watch:
        r = c.post(url, files=[("files", ("huge16.png", data))], headers=h)
    _decode_row(b, f"16-bit 9400 x 9400 PNG ({len(data) // 1024} kB) uploaded", watch, r)
    answers = []
    with RssWatch(b.server.pid) as watch:
        def upload() -> None:
            answers.append(c.post(url, files=[("files", ("huge16.png", data))], headers=h))

        two = [threading.Thread(target=upload) for _ in range(2)]
        for t in two:
            t.start()
        for t in two:
            t.join()
    _decode_row(b, "the same PNG, two uploads at once", watch, answers[-1])
    jobs = c.get(f"/api/projects/{project['id']}/jobs").json()
    done = [j["id"] for j in jobs if j["status"] == "succeeded"] or [b.train(c, h, project["id"])]
    with RssWatch(b.server.pid) as watch:
        r = c.post(f"/api/jobs/{done[0]}/predict", files={"file": ("huge16.png", data)}, headers=h)
    _decode_row(b, "the same PNG in Try it", watch, r)
    big = png(8000, 6000)  # 48 megapixels, 8-bit RGB: the largest kind of photo that passes
    with RssWatch(b.server.pid) as watch:
        r = c.post(url, files=[("files", ("photo48mp.png", big))], headers=h)
    _decode_row(b, f"8-bit RGB 8000 x 6000 PNG ({len(big) // 1024} kB, within the limit) uploaded", watch, r)
    with RssWatch(b.server.pid) as watch:
        r = c.post(f"/api/jobs/{done[0]}/predict", files={"file": ("photo48mp.png", big)}, headers=h)
    _decode_row(b, "the same 48-megapixel PNG in Try it", watch, r)


def case_decode_npz(b: Bench, c, h) -> None:
    """A 778 kB .npz holding 800 MB of float64 zeros, into a signal project."""
    project = b.project(c, h, "signals", task="signal", classes=("up",), per_class=0)
    data = npz_of_zeros((8, 12_500_000))
    url = f"/api/projects/{project['id']}/classes/{project['classes'][0]['id']}/samples"
    with RssWatch(b.server.pid) as watch:
        r = c.post(url, files=[("files", ("zeros.npz", data))], headers=h)
    _decode_row(b, f".npz of 800 MB of zeros ({len(data) // 1024} kB) into a signal project", watch, r)


def case_decode_csv(b: Bench, c, h) -> None:
    """A 20 MB CSV (2.5 M rows × 4 channels: within the limit, so accepted), into a signal project."""
    project = b.project(c, h, "csv", task="signal", classes=("up",), per_class=0)
    data = csv_table(2_500_000, 4)
    url = f"/api/projects/{project['id']}/classes/{project['classes'][0]['id']}/samples"
    with RssWatch(b.server.pid) as watch:
        t0 = time.perf_counter()
        r = c.post(url, files=[("files", ("table.csv", data))], headers=h)
    _decode_row(b, f"a {len(data) // 2**20} MB CSV (10 M values) into a signal project, "
                   f"{time.perf_counter() - t0:.1f} s", watch, r)


def _tone(freq: float, seconds: float = 1.0, rate: int = 16000) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        t = np.arange(int(seconds * rate)) / rate
        w.writeframes((8000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())
    return buf.getvalue()


def case_decode_flac(b: Bench, c, h) -> None:
    """A 2 h silent FLAC (1.1 MB) predicted by a model trained with ``long_files: windows``."""
    pid = c.post("/api/projects", json={"name": "tones", "task": "sound"}, headers=h).json()["id"]
    for name, freq in (("low", 300.0), ("high", 2000.0)):
        cid = c.post(f"/api/projects/{pid}/classes", json={"name": name}, headers=h).json()["id"]
        files = [("files", (f"{name}{n}.wav", _tone(freq * (1 + n / 50)))) for n in range(6)]
        c.post(f"/api/projects/{pid}/classes/{cid}/samples", files=files, headers=h).raise_for_status()
    config = {"num_epochs": 1, "cv": 0, "target_size": 0, "audio": {"duration": 1.0, "long_files": "windows"}}
    job = c.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_melcnn", "config": config}, headers=h)
    job.raise_for_status()
    while (status := c.get(f"/api/jobs/{job.json()['id']}").json())["status"] in ("queued", "running"):
        time.sleep(0.3)
    for what, seconds in (("2 h", 7200), ("19 min (within the limit)", 19 * 60)):
        data = flac_silence(seconds, rate=16000)
        with RssWatch(b.server.pid) as watch:
            t0 = time.perf_counter()
            r = c.post(f"/api/jobs/{status['id']}/predict", files={"file": ("silence.flac", data)}, headers=h)
        _decode_row(b, f"{what} of silence, FLAC ({len(data) // 1024} kB), Try it with long_files: windows, "
                       f"{time.perf_counter() - t0:.1f} s", watch, r)
# ------------------------------------------------------------------ issue 20 (hardening II): service items

def rss_mb(b: Bench) -> float:
    """The server process's resident memory (MB): what an abusive request makes it hold."""
    for line in Path(f"/proc/{b.server.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client_from(b: Bench, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address (127.0.0.0/8 all reach the server)."""
    return httpx.Client(base_url=b.base, timeout=120, transport=httpx.HTTPTransport(local_address=address))


def raw_post(b: Bench, path: str, headers: dict[str, str], total: int, cookie: str = "") -> tuple[str, int]:
    """POST a ``total``-byte body over a raw socket, 1 MiB at a time, until the server answers;
    return (status line, bytes sent before the answer)."""
    import select
    import socket

    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Length": str(total)}.items())
    sent = 0
    with socket.create_connection(("127.0.0.1", b.port), timeout=60) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{cookie}{head}\r\n".encode())
        chunk = bytes(1 << 20)
        try:
            while sent < total and not select.select([s], [], [], 0)[0]:
                s.sendall(chunk[:min(len(chunk), total - sent)])
                sent += min(len(chunk), total - sent)
        except OSError:  # the server answered and closed: what the gate does
            pass
        answer = s.recv(4096).decode(errors="replace")
    return (answer.splitlines() or ["(closed without answer)"])[0], sent


def case_ii_2_body_before_read(b: Bench, project) -> None:
    """Item 2: a 300 MB text/plain sign-in and a 300 MB anonymous upload are refused from their head."""
    cid = project["classes"][0]["id"]
    for what, path, ctype in (("sign-in, text/plain", "/api/auth/login", "text/plain"),
                              ("anonymous multipart upload", f"/api/projects/{project['id']}/classes/{cid}/samples",
                               "multipart/form-data; boundary=x")):
        before, tmp_before = rss_mb(b), sum(1 for _ in (b.data_dir / "tmp").rglob("*"))
        status, sent = raw_post(b, path, {"Content-Type": ctype}, 300 * 1024**2)
        after, tmp_after = rss_mb(b), sum(1 for _ in (b.data_dir / "tmp").rglob("*"))
        b.row("ii2", f"300 MB {what}: answered after {sent / 1024**2:.0f} MiB sent; RSS {before:.0f}→{after:.0f} MB; "
                     f"tmp entries {tmp_before}→{tmp_after}", (status.split() + ["?", "?"])[1])


def case_ii_7_lockout(b: Bench) -> None:
    """Item 7: 10 wrong passwords for one account lock neither it nor another account behind the address."""
    here, elsewhere = client_from(b, "127.0.0.7"), client_from(b, "127.0.0.8")
    for email in ("locked@example.com", "neighbour@example.com"):
        here.post("/api/auth/signup", json={"email": email, "password": "the right password"})
    codes = [here.post("/api/auth/login", json={"email": "locked@example.com", "password": f"guess{n}"}).status_code
             for n in range(10)]
    before = rss_mb(b)
    neighbour = here.post("/api/auth/login", json={"email": "neighbour@example.com", "password": "the right password"})
    owner = elsewhere.post("/api/auth/login", json={"email": "locked@example.com", "password": "the right password"})
    guesser = here.post("/api/auth/login", json={"email": "locked@example.com", "password": "the right password"})
    b.row("ii7", f"10 wrong ({codes.count(401)}x401), then: another account from that address / the owner "
                 f"from another / the guessing address; RSS {before:.0f}→{rss_mb(b):.0f} MB",
          f"{neighbour.status_code}/{owner.status_code}/{guesser.status_code}")


def case_ii_8_quotas(b: Bench) -> None:
    """Item 8: sign-ups per address are throttled; projects and queued jobs per user have quotas."""
    before = rss_mb(b)
    spammer = client_from(b, "127.0.0.9")
    codes = [spammer.post("/api/auth/signup", json={"email": f"spam{n}@example.com", "password": "a long password"}
                          ).status_code for n in range(30)]
    b.row("ii8", f"30 sign-ups from one address: {codes.count(201)} created, then "
                 f"{codes[-1]}; RSS {before:.0f}→{rss_mb(b):.0f} MB", codes[-1])
    c = client_from(b, "127.0.0.10")
    r = c.post("/api/auth/signup", json={"email": "hoarder@example.com", "password": "a long password"})
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    project = b.project(c, h, "jobs", per_class=4)
    codes = [c.post("/api/projects", json={"name": f"p{n}", "task": "image"}, headers=h).status_code for n in range(100)]
    last = c.post("/api/projects", json={"name": "one more", "task": "image"}, headers=h)
    b.row("ii8", f"101 more projects ({codes.count(201)} created): {last.json()['detail'][:50]!r}", last.status_code)
    url = f"/api/projects/{project['id']}/jobs"
    jobs = [c.post(url, json={"pipeline": "scratch_cnn", "config": FAST}, headers=h) for _ in range(5)]
    b.row("ii8", f"5 jobs at once: {[j.status_code for j in jobs]}; {jobs[-1].json()['detail'][:40]!r}",
          jobs[-1].status_code)
    for j in jobs:
        if j.status_code == 201:
            c.post(f"/api/jobs/{j.json()['id']}/cancel", headers=h)


def case_ii_9_class_race(b: Bench, c, h) -> None:
    """Item 9: 490 classes + 60 parallel creates stop at the limit of 500."""
    from concurrent.futures import ThreadPoolExecutor

    pid = c.post("/api/projects", json={"name": "race", "task": "image"}, headers=h).json()["id"]
    for n in range(490):
        c.post(f"/api/projects/{pid}/classes", json={"name": f"c{n}"}, headers=h)
    before = rss_mb(b)
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda n: b.client().post(f"/api/projects/{pid}/classes", json={"name": f"r{n}"},
                                                        headers=h, cookies=c.cookies).status_code, range(60)))
    count = len(c.get(f"/api/projects/{pid}", headers=h).json()["classes"])
    b.row("ii9", f"490 classes + 60 parallel creates: {codes.count(201)} created, {codes.count(409)}x409; "
                 f"RSS {before:.0f}→{rss_mb(b):.0f} MB", f"{count} classes")


def case_ii_10_csp(b: Bench) -> None:
    """Item 10: the pages carry a Content-Security-Policy."""
    r = b.client().get("/login")
    csp = r.headers.get("content-security-policy", "")
    b.row("ii10", f"CSP on /login: {csp[:60]!r}…", r.status_code if csp else "MISSING")


def case_ii_12_export_job(b: Bench, c, h, job_id: int) -> None:
    """Item 12: an export is a job: the request answers at once; the zip is built once and kept."""
    before = rss_mb(b)
    t0 = time.perf_counter()
    r = c.post(f"/api/jobs/{job_id}/exports", json={"format": "onnx"}, headers=h)
    answered = time.perf_counter() - t0
    export = r.json()["job"]
    while export["status"] in ("queued", "running"):
        time.sleep(0.3)
        export = c.get(f"/api/jobs/{export['id']}", headers=h).json()
    built = time.perf_counter() - t0
    again = c.post(f"/api/jobs/{job_id}/exports", json={"format": "onnx"}, headers=h).json()
    z = c.get(f"/api/jobs/{job_id}/export?format=onnx", headers=h)
    b.row("ii12", f"ONNX export: POST answered in {1000 * answered:.0f} ms ({r.status_code}), built in {built:.1f} s "
                  f"({export['status']}), asked again → same job: {again['job']['id'] == export['id']}; "
                  f"RSS {before:.0f}→{rss_mb(b):.0f} MB", z.status_code)
# ------------------------------------------------------------------ hardening II: core, config, export

def _server_rss_mb(b: Bench) -> float:
    """The server process's resident memory (MB), from /proc (Linux)."""
    try:
        for line in Path(f"/proc/{b.server.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _row_rss(b: Bench, item: str, case: str, status, before: float, leak: bool | None = None) -> None:
    """A row for an item of issue #20 (its number is marked so), with the server's RSS before → after."""
    b.row(item, f"[#20] {case} [RSS {before:.0f}→{_server_rss_mb(b):.0f} MB]", status, leak)


def _wait_job(c, job_id: int) -> dict:
    while (status := c.get(f"/api/jobs/{job_id}").json())["status"] in ("queued", "running"):
        time.sleep(0.3)
    return status


def case_core_names(b: Bench, c, h) -> None:
    """Issue #20 items 1 and 6: class names that are code, control characters or too many bytes."""
    project = b.project(c, h, "names", classes=(), per_class=0)
    url = f"/api/projects/{project['id']}/classes"
    for item, label, name in (("1", "code in a class name", 'x"""; __import__("os").system("touch PWNED"); """'),
                              ("1", "a newline in a class name", "a\nb"),
                              ("1", "an escape sequence in a class name", "red\x1b[31m"),
                              ("6", "a class name of 100 four-byte characters", "\U0001F600" * 100)):
        before = _server_rss_mb(b)
        r = c.post(url, json={"name": name}, headers=h)
        _row_rss(b, item, label, r.status_code, before, leak=not no_paths(r.text, b.data_dir))
    before = _server_rss_mb(b)
    r = c.post(url, json={"name": "\U0001F600" * 25}, headers=h)  # 100 bytes: the limit, accepted
    _row_rss(b, "6", "a class name of 25 four-byte characters (100 bytes)", r.status_code, before)
    pwned = list(b.data_dir.parent.rglob("PWNED"))
    b.row("1", f"[#20] files named PWNED anywhere near the server: {len(pwned)}", "none" if not pwned else "FOUND")


def case_core_config(b: Bench, c, h, project) -> None:
    """Issue #20 item 4: settings that would make a worker build millions of items, or crash later."""
    url = f"/api/projects/{project['id']}/jobs"
    for config in ({"target_size": 3_000_000}, {"seed": 10**30}, {"seed": -5}):
        before = _server_rss_mb(b)
        r = c.post(url, json={"pipeline": "scratch_cnn", "config": {**FAST, **config}}, headers=h)
        key = next(iter(config))
        named = key in r.text and ("10000" in r.text or "4294967296" in r.text or " 0" in r.text)
        _row_rss(b, "4", f"train with {config} (key and limit named: {'yes' if named else 'NO'})",
                 r.status_code, before)


def case_core_report_paths(b: Bench, c, h, project) -> None:
    """Issue #20 item 5: the report (API, download) names no server folder."""
    jobs = [j for j in c.get(f"/api/projects/{project['id']}/jobs").json() if j["status"] == "succeeded"]
    if not jobs:
        return
    before = _server_rss_mb(b)
    r = c.get(f"/api/jobs/{jobs[0]['id']}/report", headers=h)
    _row_rss(b, "5", "GET the report: server paths", r.status_code, before, leak=not no_paths(r.text, b.data_dir))
    before = _server_rss_mb(b)
    r = c.get(f"/api/jobs/{jobs[0]['id']}/download", headers=h)
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        texts = [zf.read(n).decode("utf-8", "replace") for n in zf.namelist() if n.endswith((".json", ".md"))]
    _row_rss(b, "5", "the downloaded run (report.json, summary.md): server paths", r.status_code, before,
             leak=not all(no_paths(t, b.data_dir) for t in texts))


def case_core_split_names(b: Bench, c, h) -> None:
    """Issue #20 item 11: classes named `train` and `test` are classes, not splits."""
    project = b.project(c, h, "splits", classes=("train", "test"))
    before = _server_rss_mb(b)
    job = c.post(f"/api/projects/{project['id']}/jobs", json={"pipeline": "scratch_cnn", "config": FAST}, headers=h)
    status = _wait_job(c, job.json()["id"])["status"] if job.status_code == 201 else job.status_code
    _row_rss(b, "11", "train a project whose classes are `train` and `test`", status, before)


def _quiet(call) -> None:
    try:
        call()
    except httpx.HTTPError:
        pass


def main() -> int:
    from konstrukt.demo import write_digits

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with tempfile.TemporaryDirectory(prefix="konstrukt-abuse-") as tmp:
        tmp = Path(tmp)
        images = write_digits(tmp / "digits", per_class=8, classes=(0, 1), extra_per_class=1)
        b = Bench(tmp / "server", images)
        b.start()
        try:
            print(f"server on {b.base} (loopback only), data in {b.data_dir}\n")
            b.keep()
            c, h = b.user("mallory@example.com")
            project = b.project(c, h, "M")
            case_leak(b)
            case_zips(b, c, h, project)
            case_hostile(b, c, h, project)
            case_auth(b)
            trained = b.train(c, h, project["id"])
            case_paths_and_small(b, c, h, project)
            case_decode_png(b, c, h, project)
            case_decode_npz(b, c, h)
            case_decode_csv(b, c, h)
            case_decode_flac(b, c, h)
            case_ii_2_body_before_read(b, project)
            case_ii_7_lockout(b)
            case_ii_9_class_race(b, c, h)
            case_ii_10_csp(b)
            case_ii_12_export_job(b, c, h, trained)
            case_core_names(b, c, h)
            case_core_config(b, c, h, project)
            case_core_report_paths(b, c, h, project)
            case_core_split_names(b, c, h)
            case_crash(b)
            b.stop()
            b.start(worker=False)  # queued jobs stay idle: streams with nothing to say
            case_streams(b)
            case_ii_8_quotas(b)  # last: it spends this address's sign-ups
        finally:
            if b.server and b.server.poll() is None:
                b.stop()
    print(f"\nleaks: {b.leaks}   5xx answers: {len(b.five_xx)}   stored data intact: "
          f"{'yes' if not b.broken else 'NO'}")
    for line in b.five_xx[:10]:
        print("  5xx:", line)
    return 0 if not (b.leaks or b.five_xx or b.broken) else 1


if __name__ == "__main__":
    sys.exit(main())
