"""The FastAPI application: wiring only (state, error mapping, limits); routes live in ``routes/``."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ..errors import KonstruktError, RunError, StorageUnavailable
from .db import make_engine, make_sessionmaker, migrate
from .gate import RequestGate
from .jobs import recover_orphans
from .limits import FailureWindow, StreamSlots
from .logs import configure_logging
from .openapi import describe_inputs
from .predict import RunCache
from .security import SessionSigner, TTLCache
from .settings import Settings, get_settings, settings_from_env
from .storage import clean_staging, hide_paths, prepare_data_dir, register_data_dir, rewritten

log = logging.getLogger("konstrukt.service")
HERE = Path(__file__).parent


class SecurityHeaders:
    """ASGI middleware adding nosniff / frame / referrer headers, and a Content-Security-Policy on
    the HTML pages (pure ASGI: cheap per request)."""

    HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"same-origin")]
    # Everything the pages load is same-origin. Images may be blob: (a Try it preview of the chosen
    # file) or data:; media blob: / mediastream: (recordings, the webcam). No inline script or
    # style: app.js sets styles through the CSSOM, which a policy does not restrict.
    CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
           b"media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; "
           b"object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    # FastAPI's own API pages load Swagger UI / ReDoc from a CDN: they keep working without a policy.
    NO_CSP = ("/docs", "/redoc")

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        page = not scope["path"].startswith(self.NO_CSP)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower(): v for k, v in headers}
                headers += [h for h in self.HEADERS if h[0] not in present]
                if page and present.get(b"content-type", b"").startswith(b"text/html"):
                    headers.append((b"content-security-policy", self.CSP))
                message["headers"] = headers
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def _konstrukt_error(request: Request, exc: KonstruktError) -> JSONResponse:
    # Storage that cannot be reached is the server's trouble, and passes: 503, try again later.
    status = 500 if isinstance(exc, RunError) else 503 if isinstance(exc, StorageUnavailable) else 422
    exc = rewritten(exc, hide_paths)  # the last net: no server path reaches a client
    return JSONResponse({"detail": exc.message, "problems": exc.problems}, status)


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings: Settings = app.state.settings
    prepare_data_dir(settings)
    register_data_dir(settings.data_dir)
    check_storage(settings)
    engine = make_engine(settings.db_url)
    migrate(engine)
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.signer = SessionSigner(settings.resolved_secret(), settings.session_days * 86400)
    app.state.runs = RunCache(settings.warm_runs)
    app.state.access_cache = TTLCache(ttl=10.0)
    app.state.streams = StreamSlots(settings.max_streams_per_user)
    app.state.failed_logins = FailureWindow(settings.login_failures_per_minute, window=60.0)
    app.state.signups = FailureWindow(settings.signups_per_address_per_hour, window=3600.0)
    removed = clean_staging(settings.data_dir)
    if removed:
        log.warning("removed %d upload(s) left half-done by a previous run", removed)
    with app.state.sessions() as db:
        recovered = recover_orphans(db, max_attempts=settings.max_attempts,
                                    stale_after=settings.stale_after_seconds,
                                    reason="the server restarted while this job was running")
    if recovered:
        log.warning("recovered jobs left running by a stopped worker: %s", recovered)
    if settings.demo:
        from .demo import load_demo

        load_demo(app.state.sessions, settings)
    app.state.worker = None
    if settings.start_worker:
        from .worker_process import WorkerManager

        app.state.worker = WorkerManager(settings, app.state.sessions)
        app.state.worker.start()
    try:
        yield
    finally:
        if app.state.worker:
            app.state.worker.stop()
        app.state.runs.clear()
        engine.dispose()


def check_storage(settings: Settings) -> None:
    """Fail at start, with the reason and the fix, when the blob store cannot be used."""
    from .blobs import store_of

    store_of(settings).check()
    if settings.storage_url:
        log.info("samples and runs are stored in %s", settings.storage_url)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; ``settings`` default to :func:`get_settings` (read when this is called)."""
    from ..modalities import register_all
    from .routes import auth, connect, jobs, pages, project_file, projects, sequences

    register_all()
    settings = settings or get_settings()
    app = FastAPI(title="konstrukt", version=_version(), lifespan=lifespan,
                  description="Build a classifier from a few dozen examples per class: projects, "
                              "classes, samples, training jobs, results, Try it and export. "
                              "Scripts authenticate with `Authorization: Bearer <API token>`.")
    app.state.settings = settings
    app.dependency_overrides[get_settings] = lambda: app.state.settings
    app.add_middleware(RequestGate)  # before the body is read: type, size, identity
    app.add_exception_handler(KonstruktError, _konstrukt_error)

    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(pages.SignInRequired, pages.sign_in_redirect)
    for module in (auth, project_file, projects, jobs, sequences, pages, connect):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    generated = app.openapi

    def openapi() -> dict:  # FastAPI's document, told what the registries and TrainConfig accept
        if app.openapi_schema is None:
            describe_inputs(generated())
        return app.openapi_schema

    app.openapi = openapi
    return app


def _version() -> str:
    try:
        from ..version import __version__

        return __version__
    except ImportError:
        return "0"


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir=None, database_url: str | None = None,
          demo: bool = False, storage_url: str | None = None, executor: str | None = None,
          ray_address: str | None = None, tls: dict | None = None) -> None:
    """Run the service with uvicorn (blocking). Binds to loopback unless told otherwise; ``tls``:
    HTTPS with ``{"cert", "key"}`` or ``{"self_signed": True}`` (:mod:`konstrukt.service.tls`)."""
    import os

    import uvicorn

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see worker_process.worker_env; before torch starts
    settings = settings_from_env(data_dir=data_dir, database_url=database_url, demo=demo or None,
                                 storage_url=storage_url, executor=executor,
                                 ray_address=ray_address)
    configure_logging("%(asctime)s %(name)s %(message)s")
    check_storage(settings)  # before uvicorn: an unreachable store is a clear error, not a traceback
    from .tls import resolve_tls

    tls_files = resolve_tls(tls, settings.data_dir, host, port)  # prints the https addresses
    print(f"konstrukt: data in {settings.data_dir.resolve()}; open http{'s' if tls_files else ''}://{host}:{port}/", flush=True)
    if settings.executor != "local":
        print(f"konstrukt: jobs train on the Ray cluster at {settings.ray_address or '(a local Ray)'}", flush=True)
    if demo:
        from .demo import DEMO_EMAIL, DEMO_PASSWORD

        print(f"konstrukt: demo account {DEMO_EMAIL} / {DEMO_PASSWORD}", flush=True)
    app = create_app(settings)
    app.state.listen, app.state.tls_self_signed = (host, port), bool(tls_files and tls_files.self_signed)
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False,
                **(tls_files.uvicorn_options() if tls_files else {}))
