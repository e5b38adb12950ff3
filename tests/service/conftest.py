"""Fixtures for the service tests: a real SQLite file in a temp folder, a real worker process."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))  # service_helpers, whatever pytest's import mode
from service_helpers import Api, make_settings, new_client  # noqa: E402

from konstrukt.service import create_app  # noqa: E402


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    """Real images (sklearn digits as PNG), two classes × 8, plus unseen ones in ``digits_new``."""
    from konstrukt.demo import write_digits

    dest = tmp_path_factory.mktemp("src") / "digits"
    write_digits(dest, per_class=8, classes=(0, 1), extra_per_class=2)
    return dest


@pytest.fixture
def app(tmp_path):
    return create_app(make_settings(tmp_path))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture
def alice(client):
    return Api(client, "alice@example.com")


@pytest.fixture
def bob(app, client):
    return Api(new_client(app), "bob@example.com")
