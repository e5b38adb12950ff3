"""Database: SQLAlchemy 2 models, the engine and sessions, and migrations at startup.

SQLite (the embedded default) runs in WAL mode with a busy timeout so the web server and the
training worker (another process) can write at the same time. PostgreSQL works through
``postgresql+psycopg://`` URLs; nothing here is SQLite-only except those pragmas.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint,
                        create_engine, event)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


# SQLite AUTOINCREMENT: an id is never handed out twice, even after the newest rows are deleted
# (plain rowids reuse max+1). Ids name files and warm models, so a reused id would leak data.
NO_REUSE = {"sqlite_autoincrement": True}
MAX_ID = 2**31 - 1  # ids are 32-bit INTEGER columns in PostgreSQL; anything larger is unknown


def new_run_key() -> str:
    return uuid.uuid4().hex


class User(Base):
    __tablename__ = "users"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    # Part of every session cookie; signing out bumps it, so copies of old cookies stop working.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists, so a user can tell tokens apart
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(DateTime, nullable=True)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(32))
    # "classes" (a file → one of its classes) or "sequence" (a recording → its text; one implicit class)
    kind: Mapped[str] = mapped_column(String(16), default="classes", server_default="classes")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    classes: Mapped[list["Label"]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Label.id")


class Label(Base):
    """A class of a project (``class`` is a keyword, hence the name)."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_class_name"), NO_REUSE)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    project: Mapped[Project] = relationship(back_populates="classes")
    samples: Mapped[list["Sample"]] = relationship(
        back_populates="label", cascade="all, delete-orphan", order_by="Sample.id")


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded, for display
    stored_name: Mapped[str] = mapped_column(String(64))  # on disk: <id><ext>
    size: Mapped[int] = mapped_column(Integer)
    digest: Mapped[Optional[str]] = mapped_column(String(64), nullable=True, index=True)  # sha256 hex
    text: Mapped[Optional[str]] = mapped_column(Text, nullable=True)  # a sequence project's target text
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    label: Mapped[Label] = relationship(back_populates="samples")


class Job(Base):
    """A training job; when it succeeds its run directory holds the report and the model."""

    __tablename__ = "jobs"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    pipeline: Mapped[str] = mapped_column(String(64), default="auto")
    # Names the trained model in memory (the warm Try it cache): random, so never shared by two jobs.
    run_key: Mapped[Optional[str]] = mapped_column(String(32), nullable=True, default=new_run_key)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON, nullable=True)
    error: Mapped[Optional[str]] = mapped_column(Text, nullable=True)
    summary: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON, nullable=True)  # headline metrics
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_pid: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    worker_host: Mapped[Optional[str]] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime, nullable=True)


class JobEvent(Base):
    """One progress message of a job, streamed to browsers as a Server-Sent Event."""

    __tablename__ = "job_events"
    __table_args__ = NO_REUSE
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A pool as large as the thread pool's busy moments: new SQLite connections cost pragmas.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15},
                               pool_size=20, max_overflow=20)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def migrate(engine: Engine) -> None:
    """Bring the schema up to date with the Alembic migrations shipped inside the package."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # rebuilding a table must not cascade-delete its children (outside a transaction)
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        with conn.begin():
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
