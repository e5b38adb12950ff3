"""The service on a real PostgreSQL server (Debian's), started for this module in a temp folder.

It proves that the Alembic migrations build the schema on PostgreSQL and that the everyday routes
(sign-up, projects, classes, uploads, ownership) work on it. Skipped when Debian's ``postgresql``
package is not installed; ``.ci/run`` installs it.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from service_helpers import Api, make_settings, new_client

from konstrukt.service import create_app
from konstrukt.service.db import Base, migrate
from konstrukt.service.jobs import claim_next, finish

DB = "konstrukt_test"


def _pg_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``."""
    by_version = lambda p: [int(n) for n in re.findall(r"\d+", p)]  # noqa: E731
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=by_version, reverse=True):
        if os.access(Path(bindir) / "initdb", os.X_OK) and os.access(Path(bindir) / "pg_ctl", os.X_OK):
            return Path(bindir)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL cluster on a free loopback port; yields a ``postgresql+psycopg://`` URL."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("Debian postgresql not installed (apt-get install postgresql)")
    prefix: list[str] = []
    root = tempfile.mkdtemp(prefix="konstrukt-pg-")  # short path: the socket lives here too
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root: run them as `postgres`
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = Path(root) / "data", _free_port()

    def run(*cmd):
        out = subprocess.run(prefix + [str(c) for c in cmd], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"{cmd[0]} failed:\n{out.stdout}\n{out.stderr}"

    started = False
    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", Path(root) / "server.log", "-w", "-t", "60",
            "-o", f"-k {root} -p {port} -h 127.0.0.1 -c fsync=off", "start")
        started = True
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB}"')
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB}"
    finally:
        if started:
            subprocess.run(prefix + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


def test_the_service_runs_on_postgresql(postgres_url, tmp_path, digits):
    app = create_app(make_settings(tmp_path, database_url=postgres_url))
    with TestClient(app) as client:  # startup runs the Alembic migrations on PostgreSQL
        engine = app.state.engine
        assert engine.dialect.name == "postgresql"
        migrate(engine)  # idempotent: already at head
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        alice = Api(client, "alice@example.com")
        assert client.post("/api/auth/signup", json={"email": "alice@example.com",
                                                     "password": "another one"}).status_code == 409
        # PostgreSQL text cannot hold NUL characters (SQLite can): refused as input, never a 500.
        assert alice.post("/api/projects", json={"name": "nul\u0000name"}).status_code == 422
        assert client.post("/api/auth/signup", json={"email": "n\u0000l@example.com",
                                                     "password": "correct horse"}).status_code == 422
        project = alice.project("Digits on Postgres")
        pid = project["id"]
        assert [c["name"] for c in project["classes"]] == ["zero", "one"]
        assert alice.post(f"/api/projects/{pid}/classes", json={"name": "zero"}).status_code == 409

        files = {c: [(p.name, p.read_bytes()) for p in sorted((digits / c).iterdir())[:2]] for c in ("zero", "one")}
        for c, batch in files.items():
            r = alice.upload(project, c, batch)
            assert r.status_code == 200 and not r.json()["rejected"], r.text
        project = alice.get(f"/api/projects/{pid}").json()
        assert project["sample_count"] == 4 and project["job_count"] == 0
        for c in project["classes"]:
            assert sorted(s["filename"] for s in c["samples"]) == sorted(n for n, _ in files[c["name"]])
            for s in c["samples"]:
                assert alice.get(f"/api/samples/{s['id']}/file").content == dict(files[c["name"]])[s["filename"]]
        [listed] = alice.get("/api/projects").json()
        assert listed["id"] == pid and listed["sample_count"] == 4

        # A queued job (JSON columns) and the worker's claim (a conditional UPDATE), no training.
        r = alice.post(f"/api/projects/{pid}/jobs", json={"pipeline": "scratch_cnn", "config": {"num_epochs": 1}})
        assert r.status_code == 201, r.text
        with app.state.sessions() as db:
            job = claim_next(db, pid=4242)
            assert job.id == r.json()["id"] and job.status == "running" and job.attempts == 1
            assert job.config["num_epochs"] == 1 and claim_next(db, pid=4242) is None
            finish(db, job, "failed", error="not trained in this test")
        assert alice.get(f"/api/jobs/{job.id}").json()["status"] == "failed"

        bob = Api(new_client(app), "bob@example.com")
        sample_id = project["classes"][0]["samples"][0]["id"]
        assert bob.get("/api/projects").json() == []
        assert bob.get(f"/api/projects/{pid}").status_code == 404
        assert bob.get(f"/api/samples/{sample_id}/file").status_code == 404
        assert bob.post(f"/api/projects/{pid}/classes", json={"name": "two"}).status_code == 404

        assert alice.delete(f"/api/projects/{pid}").status_code == 204
        assert alice.get("/api/projects").json() == []
