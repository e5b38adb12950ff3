"""Service settings, read lazily from the environment (``KONSTRUKT_*``) or given by ``serve``.

Nothing is read at import time: :func:`get_settings` builds the settings once, on first use, and
tests override it through FastAPI's ``dependency_overrides`` or by passing a ``Settings`` to
``create_app``.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("konstrukt-data")
    database_url: str | None = None  # None: SQLite file inside data_dir
    storage_url: str | None = None  # None: samples and runs in data_dir; s3://BUCKET/PREFIX: object storage
    secret_key: str | None = None  # None: generated once, kept in data_dir/secret_key
    max_file_bytes: int = 50 * MB  # one uploaded sample
    max_zip_bytes: int = 500 * MB  # one uploaded archive (compressed)
    max_request_bytes: int = 600 * MB  # a whole request body
    max_json_bytes: int = 1 * MB
    max_unzip_bytes: int = 2048 * MB  # everything one archive may expand to (free disk bounds it too)
    min_free_disk_bytes: int = 512 * MB  # uploads that would leave less free space are refused
    max_classes_per_project: int = 500
    max_samples_per_project: int = 20_000
    max_streams_per_user: int = 20  # live progress streams open at once
    stream_poll_seconds: float = 0.4  # how often a live stream looks for new events while they flow
    stream_idle_seconds: float = 2.0  # … and at most this seldom while nothing happens
    login_failures_per_minute: int = 10  # per account and per client address, then 429
    signups_per_address_per_hour: int = 20  # sign-up attempts from one client address, then 429
    # Quotas per user (a 4xx naming the limit when reached): projects, examples and stored bytes
    # over all their projects, and training / compare / export jobs queued or running at once.
    max_projects_per_user: int = 100
    max_samples_per_user: int = 100_000
    max_bytes_per_user: int = 20 * 1024 * MB
    max_active_jobs_per_user: int = 4
    session_days: int = 14
    bcrypt_rounds: int = 12  # tests lower it; 12 is the production cost
    cookie_secure: str = "auto"  # auto (Secure over https) | always | never
    start_worker: bool = True  # spawn the local training worker with the app
    worker_poll_seconds: float = 0.5
    heartbeat_seconds: float = 2.0
    stale_after_seconds: float = 30.0  # a running job without heartbeat this long is orphaned
    max_attempts: int = 2  # a job whose worker died is requeued until it has run this often
    warm_runs: int = 4  # trained models kept in memory for Try it
    demo: bool = False
    executor: str = "local"  # local: the worker process trains; ray: it sends each job to a Ray cluster
    ray_address: str | None = None  # the Ray cluster (HOST:6379, ray://HOST:10001); None: a local Ray
    extra: dict = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'konstrukt.db').resolve()}"

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

    def resolved_secret(self) -> str:
        """The session-signing key: configured, or created once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def settings_from_env(**overrides) -> Settings:
    """Settings from ``KONSTRUKT_DATA_DIR``, ``KONSTRUKT_DATABASE_URL``, ``KONSTRUKT_STORAGE_URL``,
    ``KONSTRUKT_SECRET_KEY``, ``KONSTRUKT_EXECUTOR`` and ``KONSTRUKT_RAY_ADDRESS``."""
    env = os.environ
    values: dict = {}
    if env.get("KONSTRUKT_DATA_DIR"):
        values["data_dir"] = Path(env["KONSTRUKT_DATA_DIR"])
    if env.get("KONSTRUKT_DATABASE_URL"):
        values["database_url"] = env["KONSTRUKT_DATABASE_URL"]
    if env.get("KONSTRUKT_STORAGE_URL"):
        values["storage_url"] = env["KONSTRUKT_STORAGE_URL"]
    if env.get("KONSTRUKT_SECRET_KEY"):
        values["secret_key"] = env["KONSTRUKT_SECRET_KEY"]
    if env.get("KONSTRUKT_EXECUTOR"):
        values["executor"] = env["KONSTRUKT_EXECUTOR"].strip().lower()
    if env.get("KONSTRUKT_RAY_ADDRESS"):
        values["ray_address"] = env["KONSTRUKT_RAY_ADDRESS"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"]).expanduser()
    return Settings(**values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return settings_from_env()
