"""The app factory: ``create_app(settings) -> FastAPI`` with the Bedrock and OpenAI APIs.

Collaborators (job service, model loader, object store) are parameters so tests can pass a temporary
job database, a :class:`~stillhouse.models.fake.FakeModel` loader or a local store; by default they
are the real ones under ``STILLHOUSE_HOME``.
"""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from stillhouse.serve.auth import SigV4Verifier
from stillhouse.serve.context import ServeContext
from stillhouse.serve.deployments import ModelLoader, ModelRegistry, default_loader
from stillhouse.serve.errors import install_error_handlers
from stillhouse.serve.logging import InvocationLogWriter, PutStore
from stillhouse.serve.settings import ServerSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from stillhouse.jobs.service import JobService
    from stillhouse.models.foundation import FoundationTable

log = logging.getLogger(__name__)


def catalog_chat_models() -> frozenset[str]:
    """Names of the packaged chat models (GGUF) a caller may invoke without deploying anything."""
    from stillhouse.models.catalog import CATALOG

    return frozenset(name for name, entry in CATALOG.items() if entry.kind == "gguf")


def _default_store() -> PutStore:
    from stillhouse.sources.objectstore import open_store

    return open_store()


def build_context(
    settings: ServerSettings,
    *,
    jobs: "JobService | None" = None,
    model_loader: ModelLoader | None = None,
    store_factory: Callable[[], PutStore] | None = None,
    catalog_names: frozenset[str] | None = None,
    foundation: "FoundationTable | None" = None,
) -> ServeContext:
    """Wire the server's long-lived parts together (no threads started yet). The foundation-model
    table defaults to this process's (:func:`stillhouse.models.foundation.active_table`), the one
    the job workers read too."""
    from stillhouse.jobs.service import JobService
    from stillhouse.models.foundation import active_table

    verifier = None
    if settings.access_key_id and settings.secret_access_key:
        verifier = SigV4Verifier(
            settings.access_key_id,
            settings.secret_access_key.get_secret_value(),
            max_skew_s=settings.max_clock_skew_s,
        )
    foundation = foundation or active_table()
    registry = ModelRegistry(
        model_loader or default_loader(settings.threads_per_worker),
        workers=settings.workers,
        max_queue=settings.max_queue,
        catalog_names=catalog_chat_models() if catalog_names is None else catalog_names,
        foundation=foundation,
    )
    store_factory = store_factory or _default_store
    logs = InvocationLogWriter(
        store_factory,
        settings.invocation_log_uri,
        wal_dir=settings.log_wal_dir,
        flush_records=settings.log_flush_records,
        flush_seconds=settings.log_flush_seconds,
    )
    return ServeContext(settings, jobs or JobService(), registry, logs, verifier, foundation, store_factory)


def create_app(settings: ServerSettings, **collaborators: object) -> "FastAPI":
    """The FastAPI app. ``collaborators`` are :func:`build_context`'s keyword arguments."""
    from fastapi import FastAPI

    from stillhouse.serve import (
        batch_api,
        control,
        dispatch,
        evaluation_api,
        foundation_api,
        logging_config,
        openai_api,
        provisioned_api,
        runtime,
        search_api,
    )

    ctx = build_context(settings, **collaborators)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logging_config.restore(ctx)  # before start: recovered records go where the config says
        ctx.logs.start()
        restored = control.restore_deployments(ctx) + provisioned_api.restore_provisioned(ctx)
        if restored:
            log.info("reloading %d deployment(s)", restored)
        try:
            yield
        finally:
            ctx.logs.close()
            ctx.registry.close()

    # No public schema: /openapi.json below is served to authenticated callers only.
    app = FastAPI(
        title="stillhouse",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(control.router())
    app.include_router(foundation_api.router())
    app.include_router(logging_config.router())
    app.include_router(provisioned_api.router())
    app.include_router(runtime.router())
    app.include_router(openai_api.router())
    app.include_router(search_api.router())
    app.include_router(batch_api.router())
    app.include_router(evaluation_api.router())
    dispatch.mount(app, ctx)  # requests signed for s3 or sts go to those APIs

    @app.get("/health", tags=["health"])
    def health() -> dict[str, object]:
        """Liveness and what is loaded (no credentials needed, no secrets shown)."""
        pools = {p.name: {"status": p.status, "pending": p.pending} for p in ctx.registry.pools()}
        return {"status": "ok", "models": pools, "invocationLogs": ctx.logs.uri, "logged": ctx.logs.written}

    _openapi_route(app)
    from stillhouse.serve import console

    console.install(app)
    return app


def _openapi_route(app: "FastAPI") -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from stillhouse.serve.context import read_body, verify_any
    from stillhouse.serve.openapi import build_openapi

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        verify_any(request, await read_body(request))
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return JSONResponse(app.openapi_schema)
