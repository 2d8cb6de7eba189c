"""``POST /search``: the search engine over HTTP (bearer auth, the OpenAI API's key), and the edge
that writes each routing call to the invocation log as a ``Converse`` call.

The body is :class:`~stillhouse.search.engine.SearchRequest` and the answer
:class:`~stillhouse.search.engine.SearchResponse`, the same object as ``stillhouse search query
--json``. Errors speak the Bedrock dialect (this path is not under ``/v1``).
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError
from stillhouse.search.routing import RouteCall, RouteLog
from stillhouse.serve.context import context, parse_json, read_body, verify_bearer
from stillhouse.serve.logging import PutStore, build_record

ENV_ROUTERS = "STILLHOUSE_SEARCH_ROUTERS"

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    from stillhouse.search.engine import SearchEngine, SearchRequest, SearchResponse
    from stillhouse.serve.logging import InvocationLogWriter


def converse_bodies(call: RouteCall) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The request and response bodies a ``Converse`` call with this routing would have logged."""
    from stillhouse.models.bedrock import to_converse
    from stillhouse.serve import bedrock_protocol as bp

    request = bp.ConverseRequest.model_validate(
        {**to_converse(call.messages, call.params), "requestMetadata": call.metadata}
    )
    response = None
    if call.completion is not None:
        response = bp.converse_response(call.completion, call.latency_ms).model_dump(
            mode="json", exclude_none=True
        )
    return request.model_dump(mode="json", exclude_none=True), response


def route_logger(logs: "InvocationLogWriter", *, account_id: str, region: str) -> RouteLog:
    """A callback writing every routing call to ``logs``, shaped as the runtime logs ``Converse``."""

    def log(call: RouteCall) -> None:
        request, response = converse_bodies(call)
        completion = call.completion
        logs.add(
            build_record(
                operation="Converse",
                model_id=call.model_id,
                request_metadata=call.metadata,
                input_body=request,
                output_body=response,
                input_tokens=completion.input_tokens if completion else None,
                output_tokens=completion.output_tokens if completion else None,
                error_code=call.error.code if call.error else None,
                account_id=account_id,
                region=region,
            )
        )

    return log


def local_log_writer(
    uri: str, store_factory: "Callable[[], PutStore] | None" = None
) -> "InvocationLogWriter":
    """The invocation-log writer outside a server (the CLI): the same writer, flushed by the caller."""
    from stillhouse.serve.logging import InvocationLogWriter
    from stillhouse.sources.objectstore import open_store

    return InvocationLogWriter(store_factory or open_store, uri)


def check_router(spec: str | None, catalog: frozenset[str]) -> None:
    """A remote caller picks a router among the catalog models and ``$STILLHOUSE_SEARCH_ROUTERS``
    (comma-separated specs) only: any other spec would load a file of the caller's choosing."""
    import os

    allowed = {s.strip() for s in os.environ.get(ENV_ROUTERS, "").split(",") if s.strip()} | set(catalog)
    if spec is not None and spec not in allowed:
        raise InvalidInputError(
            f"router {spec!r} is not offered by this server (catalog models and ${ENV_ROUTERS} are)",
            field="router",
        )


def engine(request: "Request") -> "SearchEngine":
    """One engine per app, made on first use (opened stores, embedders and routers are kept)."""
    from stillhouse.search.engine import SearchEngine

    state = request.app.state
    engine = getattr(state, "search_engine", None)
    if engine is None:
        ctx = context(request)
        log = route_logger(ctx.logs, account_id=ctx.settings.account_id, region=ctx.settings.region)
        engine = state.search_engine = SearchEngine(log=log)
    return engine


async def search(request: "Request") -> "JSONResponse":
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from stillhouse.search.engine import SearchRequest

    verify_bearer(request)
    body = await read_body(request)
    req = parse_json(SearchRequest, body)
    check_router(req.router, context(request).registry.catalog_names)
    out = await run_in_threadpool(engine(request).search, req)  # CPU-bound: off the event loop
    return JSONResponse(out.model_dump(mode="json"))


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["search"])

    @r.post("/search")
    async def _search(request: Request) -> JSONResponse:
        return await search(request)

    return r


def search_and_log(request: "SearchRequest", *, log_uri: str | None) -> "SearchResponse":
    """One search outside a server (the CLI and library callers): its routing call is written to
    the invocation log at ``log_uri`` (``None``: not logged) before this returns."""
    from stillhouse.jobs import arns
    from stillhouse.search.engine import SearchEngine

    if log_uri is None:
        return SearchEngine().search(request)
    writer = local_log_writer(log_uri)
    try:
        return SearchEngine(log=route_logger(writer, account_id=arns.account(), region=arns.region())).search(
            request
        )
    finally:
        writer.flush()
