"""The Bedrock runtime: ``POST /model/{modelId}/converse`` and ``POST /model/{modelId}/invoke``
(their streaming twins are in :mod:`stillhouse.serve.runtime_stream`).

``modelId`` may be a custom model ARN or name, a deployment ARN or name, or a catalog model name
(URL-encoded by botocore; Starlette decodes it, and the ``:path`` converter keeps the slashes that
ARNs contain). Every call, failed or not, is written to the invocation log with its
``requestMetadata``, durably before the response returns.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.errors import StillhouseError
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve.context import ServeContext, authed, parse_json, parse_json_object
from stillhouse.serve.errors import as_stillhouse_error
from stillhouse.serve.logging import build_record
from stillhouse.sources.invocation_logs import InvocationLogRecord

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse


@dataclass(frozen=True)
class ModelCall:
    """One runtime call, streamed or not: what is logged about it and what the model is asked."""

    operation: str
    model_id: str
    metadata: dict[str, str] | None
    input_body: Any
    messages: list[Message]
    params: GenerationParams
    render: Callable[[Completion, float], dict[str, Any]]  # the non-streamed answer (and what is logged)


async def run_logged(ctx: ServeContext, call: ModelCall) -> tuple[dict[str, Any], Completion, float]:
    """Generate on the pool for ``call.model_id``; log the call (answer or error) either way."""
    started = time.perf_counter()
    try:
        pool, may_wait = ctx.resolve(call.model_id)
        completion = await pool.generate(call.messages, call.params, wait_load=may_wait)
        latency_ms = (time.perf_counter() - started) * 1000
        body = call.render(completion, latency_ms)
    except Exception as exc:
        err = as_stillhouse_error(exc)
        await log_record(ctx, call_record(ctx, call, None, error=err))
        raise err from exc
    await log_record(ctx, call_record(ctx, call, body, completion=completion))
    return body, completion, latency_ms


async def log_record(ctx: ServeContext, record: InvocationLogRecord) -> None:
    """Make the record durable before the call answers, off the event loop (``add`` fsyncs)."""
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(ctx.logs.add, record)


def call_record(
    ctx: ServeContext,
    call: ModelCall,
    output_body: Any,
    *,
    completion: Completion | None = None,
    error: StillhouseError | None = None,
) -> InvocationLogRecord:
    return build_record(
        operation=call.operation,
        model_id=call.model_id,
        request_metadata=call.metadata,
        input_body=call.input_body,
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

    ctx, body = await authed(request)
    return JSONResponse(await converse_body(ctx, model_id, body))


async def converse_body(ctx: ServeContext, model_id: str, body: bytes) -> dict[str, Any]:
    """A ``Converse`` request body answered and logged (the API's and the console's playground's)."""
    out, _, _ = await run_logged(ctx, converse_call(ctx, "Converse", model_id, body))
    return out


def converse_call(ctx: ServeContext, operation: str, model_id: str, body: bytes) -> ModelCall:
    """A ``Converse`` or ``ConverseStream`` body read as the call it asks (the two read it alike)."""
    req = parse_json(bp.ConverseRequest, body)
    messages, params = bp.converse_to_domain(req, default_max_tokens=ctx.settings.max_tokens_default)
    return ModelCall(
        operation=operation,
        model_id=model_id,
        metadata=req.requestMetadata,
        input_body=req.model_dump(mode="json", exclude_none=True, by_alias=True),
        messages=messages,
        params=params,
        render=lambda c, ms: bp.converse_response(c, ms).model_dump(mode="json", exclude_none=True),
    )


async def invoke(model_id: str, request: "Request") -> "JSONResponse":
    """Bedrock ``InvokeModel`` (Nova ``messages-v1``, Anthropic messages or Llama ``prompt`` bodies)."""
    from fastapi.responses import JSONResponse

    ctx, call, _ = await invoke_call(request, "InvokeModel", model_id)
    out, _, _ = await run_logged(ctx, call)
    return JSONResponse(out)


async def invoke_call(
    request: "Request", operation: str, model_id: str
) -> tuple[ServeContext, ModelCall, Any]:
    """An ``InvokeModel`` or ``InvokeModelWithResponseStream`` request read, checked and parsed the
    one way both read it: the call, and the parsed body (its model family shapes the answer)."""
    ctx, body = await authed(request)
    metadata = bp.parse_request_metadata_header(request.headers.get("x-amzn-bedrock-request-metadata"))
    raw = parse_json_object(body)
    try:
        req = bp.parse_invoke_body(raw)
    except ValueError as exc:
        raise as_stillhouse_error(exc) from exc
    messages, params = bp.invoke_to_domain(req, default_max_tokens=ctx.settings.max_tokens_default)
    call = ModelCall(
        operation=operation,
        model_id=model_id,
        metadata=metadata,
        input_body=raw,
        messages=messages,
        params=params,
        render=lambda c, ms: bp.invoke_response(req, c, model_id),
    )
    return ctx, call, req


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
