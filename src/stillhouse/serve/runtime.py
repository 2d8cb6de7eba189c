"""The Bedrock runtime: ``POST /model/{modelId}/converse`` and ``POST /model/{modelId}/invoke``
(their streaming twins are in :mod:`stillhouse.serve.runtime_stream`).

``modelId`` may be a custom model ARN or name, a deployment ARN or name, or a catalog model name
(URL-encoded by botocore; Starlette decodes it, and the ``:path`` converter keeps the slashes that
ARNs contain). Every call, failed or not, is written to the invocation log with its
``requestMetadata``, durably before the response returns.
"""

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.errors import StillhouseError
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve.context import (
    ServeContext,
    context,
    parse_json,
    parse_json_object,
    read_body,
    verify_sigv4,
)
from stillhouse.serve.errors import as_stillhouse_error
from stillhouse.serve.logging import build_record
from stillhouse.sources.invocation_logs import InvocationLogRecord

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse


async def run_logged(
    ctx: ServeContext,
    *,
    operation: str,
    model_id: str,
    metadata: dict[str, str] | None,
    input_body: Any,
    messages: list[Message],
    params: GenerationParams,
    render: Callable[[Completion, float], dict[str, Any]],
) -> tuple[dict[str, Any], Completion, float]:
    """Generate on the pool for ``model_id``; log the call (answer or error) either way.

    ``render(completion, latency_ms) -> dict`` builds the response body, which is what gets logged.
    """
    started = time.perf_counter()
    try:
        pool, may_wait = ctx.resolve(model_id)
        completion = await pool.generate(messages, params, wait_load=may_wait)
        latency_ms = (time.perf_counter() - started) * 1000
        body = render(completion, latency_ms)
    except Exception as exc:
        err = as_stillhouse_error(exc)
        await log_record(ctx, call_record(ctx, operation, model_id, metadata, input_body, None, error=err))
        raise err from exc
    await log_record(
        ctx, call_record(ctx, operation, model_id, metadata, input_body, body, completion=completion)
    )
    return body, completion, latency_ms


async def log_record(ctx: ServeContext, record: InvocationLogRecord) -> None:
    """Make the record durable before the call answers, off the event loop (``add`` fsyncs)."""
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(ctx.logs.add, record)


def call_record(
    ctx: ServeContext,
    operation: str,
    model_id: str,
    metadata: dict[str, str] | None,
    input_body: Any,
    output_body: Any,
    *,
    completion: Completion | None = None,
    error: StillhouseError | None = None,
) -> InvocationLogRecord:
    return build_record(
        operation=operation,
        model_id=model_id,
        request_metadata=metadata,
        input_body=input_body,
        output_body=output_body,
        input_tokens=completion.input_tokens if completion else None,
        output_tokens=completion.output_tokens if completion else None,
        error_code=error.code if error else None,
        account_id=ctx.settings.account_id,
        region=ctx.settings.region,
    )


async def converse(model_id: str, request: "Request") -> "JSONResponse":
    """Bedrock ``Converse``."""
    from fastapi.responses import JSONResponse

    body = await read_body(request)
    verify_sigv4(request, body)
    return JSONResponse(await converse_body(context(request), model_id, body))


async def converse_body(ctx: ServeContext, model_id: str, body: bytes) -> dict[str, Any]:
    """A ``Converse`` request body answered and logged (the API's and the console's playground's)."""
    req = parse_json(bp.ConverseRequest, body)
    messages, params = bp.converse_to_domain(req, default_max_tokens=ctx.settings.max_tokens_default)
    out, _, _ = await run_logged(
        ctx,
        operation="Converse",
        model_id=model_id,
        metadata=req.requestMetadata,
        input_body=req.model_dump(mode="json", exclude_none=True, by_alias=True),
        messages=messages,
        params=params,
        render=lambda c, ms: bp.converse_response(c, ms).model_dump(mode="json", exclude_none=True),
    )
    return out


async def invoke(model_id: str, request: "Request") -> "JSONResponse":
    """Bedrock ``InvokeModel`` (Nova ``messages-v1``, Anthropic messages or Llama ``prompt`` bodies)."""
    from fastapi.responses import JSONResponse

    body = await read_body(request)
    verify_sigv4(request, body)
    ctx = context(request)
    metadata = bp.parse_request_metadata_header(request.headers.get("x-amzn-bedrock-request-metadata"))
    raw = parse_json_object(body)
    try:
        req = bp.parse_invoke_body(raw)
    except ValueError as exc:
        raise as_stillhouse_error(exc) from exc
    messages, params = bp.invoke_to_domain(req, default_max_tokens=ctx.settings.max_tokens_default)
    out, _, _ = await run_logged(
        ctx,
        operation="InvokeModel",
        model_id=model_id,
        metadata=metadata,
        input_body=raw,
        messages=messages,
        params=params,
        render=lambda c, ms: bp.invoke_response(req, c, model_id),
    )
    return JSONResponse(out)


def router() -> "APIRouter":
    """The runtime routes (``:path`` so an ARN's slashes stay in ``model_id``)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    from stillhouse.serve import runtime_stream

    r = APIRouter(tags=["bedrock-runtime"])

    # Nested so that fastapi is imported only when an app is built; the annotations are evaluated
    # here (this module has no ``from __future__ import annotations``), which FastAPI requires.
    @r.post("/model/{model_id:path}/converse")
    async def _converse(model_id: str, request: Request) -> JSONResponse:
        return await converse(model_id, request)

    @r.post("/model/{model_id:path}/invoke")
    async def _invoke(model_id: str, request: Request) -> JSONResponse:
        return await invoke(model_id, request)

    @r.post("/model/{model_id:path}/converse-stream")
    async def _converse_stream(model_id: str, request: Request) -> StreamingResponse:
        return await runtime_stream.converse_stream(model_id, request)

    @r.post("/model/{model_id:path}/invoke-with-response-stream")
    async def _invoke_stream(model_id: str, request: Request) -> StreamingResponse:
        return await runtime_stream.invoke_stream(model_id, request)

    return r
