"""The web service: REST API + browser UI over the konstrukt core (``konstrukt serve``)."""
from __future__ import annotations


def create_app(settings=None):
    """The FastAPI application (imported lazily: no work happens at import time)."""
    from .app import create_app as _create_app

    return _create_app(settings)


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir=None, database_url: str | None = None,
          demo: bool = False, storage_url: str | None = None, executor: str | None = None,
          ray_address: str | None = None, tls: dict | None = None) -> None:
    """Run the web service with uvicorn until interrupted (blocking); ``tls``: see :mod:`.tls`."""
    from .app import serve as _serve

    _serve(host=host, port=port, data_dir=data_dir, database_url=database_url, demo=demo,
           storage_url=storage_url, executor=executor, ray_address=ray_address, tls=tls)


__all__ = ["create_app", "serve"]
