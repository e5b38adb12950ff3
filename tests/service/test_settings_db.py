"""Settings are read lazily; the Alembic migrations build exactly the models' schema."""
from __future__ import annotations

import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from konstrukt.service.db import Base, make_engine, migrate
from konstrukt.service.settings import get_settings


def test_importing_the_service_does_no_work(tmp_path):
    code = ("import os; os.chdir(%r); import konstrukt.service, konstrukt.service.app, "
            "konstrukt.service.worker; print(sorted(os.listdir('.')))" % str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_get_settings_reads_the_environment_once(monkeypatch, tmp_path):
    get_settings.cache_clear()
    monkeypatch.setenv("KONSTRUKT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("KONSTRUKT_DATABASE_URL", "postgresql+psycopg://u:p@db/konstrukt")
    try:
        s = get_settings()
        assert s.data_dir == tmp_path / "d" and s.db_url.startswith("postgresql+psycopg://")
        assert get_settings() is s
    finally:
        get_settings.cache_clear()


def test_migrations_match_the_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)  # idempotent: already at head
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_demo_preloads_a_user_a_project_and_a_first_run(tmp_path):
    from fastapi.testclient import TestClient
    from service_helpers import make_settings

    from konstrukt.service import create_app
    from konstrukt.service.demo import DEMO_EMAIL, DEMO_PASSWORD

    app = create_app(make_settings(tmp_path, demo=True))
    with TestClient(app) as c:
        assert "demo" in c.get("/login").text.lower()
        assert c.post("/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).status_code == 200
        [project] = c.get("/api/projects").json()
        assert len(project["classes"]) == 10 and project["sample_count"] == 150
        [job] = c.get(f"/api/projects/{project['id']}/jobs").json()
        assert job["status"] == "queued" and job["pipeline"] == "scratch_cnn"
    with TestClient(app) as c:  # a second start adds nothing
        c.post("/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        assert len(c.get("/api/projects").json()) == 1
