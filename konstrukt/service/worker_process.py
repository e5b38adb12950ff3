"""The worker process's life: one per data directory, tied to the server that started it.

One worker per data directory: it holds an exclusive lock on ``worker.lock`` (with its PID inside)
while it lives. A worker started by a server dies with it, even after ``kill -9`` of the server: it
watches a pipe from the server, which the kernel closes when the server goes. A server that starts
and finds the lock held by a worker left from before stops that worker first.
:class:`WorkerManager` (in the server) starts the worker (:mod:`konstrukt.service.worker`),
restarts it when it dies and recovers the job it held.
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .jobs import recover_orphans
from .settings import Settings

log = logging.getLogger("konstrukt.worker")


LOCK_NAME = "worker.lock"


def claim_lock(data_dir: Path, wait: float = 15.0) -> int:
    """Take the data directory's worker lock (waiting up to ``wait`` s for an old worker to go) and
    write this PID into it; return the open descriptor, held for the life of the process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                raise SystemExit(f"another worker (pid {lock_holder(data_dir)}) serves {data_dir}; "
                                 "stop it first") from None
            time.sleep(0.2)
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def lock_holder(data_dir: Path) -> int | None:
    """The PID of the live worker holding ``data_dir``'s lock, or None when nobody holds it."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # we got it: nobody holds it exclusively
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        except OSError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
    finally:
        os.close(fd)


def stop_stale_worker(data_dir: Path, timeout: float = 10.0) -> int | None:
    """Stop a worker left running on ``data_dir`` (by a server that was killed); return its PID."""
    pid = lock_holder(data_dir)
    if pid is None or pid == os.getpid():
        return None
    log.warning("stopping worker %d left running on this data directory by an earlier server", pid)
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return pid
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if lock_holder(data_dir) != pid:
                return pid
            time.sleep(0.1)
    return pid


def watch_parent(fd: int) -> None:
    """Exit (as on SIGTERM: the running job goes back to the queue) when file descriptor ``fd``
    reaches EOF, i.e. when the server that holds the other end of the pipe is gone, however it ended.

    It reads the raw descriptor, not ``sys.stdin``: a blocked ``sys.stdin`` read holds the stream's
    lock, and a library that forks (a process pool) then hangs in the child, which closes stdin.
    """

    def wait() -> None:
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        log.warning("the server is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=wait, daemon=True, name="konstrukt-parent-watch").start()


def worker_env() -> dict[str, str]:
    """The worker's environment. OpenMP threads that sleep instead of spinning while they wait
    (``OMP_WAIT_POLICY=PASSIVE``) keep training fast when the CPU is shared with the web server and
    other programs: on a busy 2-core machine a small CNN trained 4x faster this way."""
    return {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}


class WorkerManager:
    """Starts the worker process, restarts it when it dies, and recovers the job it held."""

    def __init__(self, settings: Settings, sessions):
        self.settings, self.sessions = settings, sessions
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="konstrukt-worker-watch")
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        stop_stale_worker(self.settings.data_dir)
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        s = self.settings
        cmd = [sys.executable, "-m", "konstrukt.service.worker", "--data-dir", str(s.data_dir),
               "--heartbeat", str(s.heartbeat_seconds), "--parent-pipe"]
        env = worker_env()
        if s.database_url:  # via the environment: a password in the URL must not show in `ps`
            env["KONSTRUKT_DATABASE_URL"] = s.database_url
        if s.storage_url:
            env["KONSTRUKT_STORAGE_URL"] = s.storage_url
        else:
            env.pop("KONSTRUKT_STORAGE_URL", None)
        env["KONSTRUKT_EXECUTOR"] = s.executor
        if s.ray_address:
            env["KONSTRUKT_RAY_ADDRESS"] = s.ray_address
        else:
            env.pop("KONSTRUKT_RAY_ADDRESS", None)
        s.data_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(s.data_dir / "worker.log", "ab")
        # stdin is a pipe only we write to: when this process dies, however, the worker sees EOF.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=logfile, stderr=subprocess.STDOUT,
                                     env=env)
        logfile.close()

    def _watch(self) -> None:
        backoff, ticks = 1.0, 0
        while not self._stop.wait(0.5):
            ticks += 1
            code = self.proc.poll() if self.proc else None
            if code is None:
                if ticks % 20 == 0:  # every ~10 s: a worker that hangs stops sending heartbeats
                    self._recover()
                continue
            self._recover(dead_pid=self.proc.pid, reason=(
                f"the training worker was killed (signal {-code}) while running this job" if code < 0
                else f"the training worker stopped (exit code {code}) while running this job"))
            if self.proc.stdin:
                self.proc.stdin.close()
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
            self.restarts += 1
            self._spawn()

    def _recover(self, dead_pid: int | None = None, reason: str | None = None) -> None:
        try:
            with self.sessions() as db:
                recover_orphans(db, max_attempts=self.settings.max_attempts,
                                stale_after=self.settings.stale_after_seconds, dead_pid=dead_pid,
                                reason=reason)
        except Exception:
            log.exception("cannot recover orphaned jobs")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._thread.is_alive():
            self._thread.join(2)
