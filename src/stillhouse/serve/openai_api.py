"""The OpenAI-compatible API: ``POST /v1/chat/completions`` and ``GET /v1/models`` (bearer auth).

``stream: true`` answers server-sent events: ``chat.completion.chunk`` objects, then ``data: [DONE]``;
an error after the first chunk is sent as ``data: {"error": ...}``, which the ``openai`` client
raises as an ``APIError``.

``model`` takes the same identifiers as the Bedrock runtime (custom model ARN or name, deployment ARN
or name, catalog model). Calls are logged like runtime calls, as operation ``ChatCompletions`` with
the request's ``metadata`` as ``requestMetadata``, so they can feed a later distillation job.
"""

import json
import time
from typing import TYPE_CHECKING, Any

from stillhouse.chat import Completion
from stillhouse.serve import openai_protocol as op
from stillhouse.serve.context import context, parse_json, read_body, verify_bearer
from stillhouse.serve.errors import openai_error_body
from stillhouse.serve.runtime import ModelCall, run_logged
from stillhouse.serve.streaming import stream_logged

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse


class SSEWire:
    """Chat-completion chunks as server-sent events (``data: <json>``), ending ``data: [DONE]``."""

    media_type = "text/event-stream"
    headers = {"Cache-Control": "no-cache"}

    def __init__(self, chunks: op.ChatCompletionChunks) -> None:
        self.chunks = chunks

    @staticmethod
    def _events(objects: list[dict[str, Any]]) -> bytes:
        return b"".join(
            b"data: " + json.dumps(o, ensure_ascii=False).encode("utf-8") + b"\n\n" for o in objects
        )

    def start(self) -> bytes:
        return self._events(self.chunks.start())

    def delta(self, text: str) -> bytes:
        return self._events(self.chunks.delta(text))

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes:
        return self._events(self.chunks.end(completion)) + b"data: [DONE]\n\n"

    def error(self, exc: Exception) -> bytes:
        return self._events([openai_error_body(exc)])


async def chat_completions(request: "Request") -> "JSONResponse | StreamingResponse":
    """OpenAI chat completions (``response_format`` json_schema constrains decoding)."""
    from fastapi.responses import JSONResponse

    verify_bearer(request)
    body = await read_body(request)
    ctx = context(request)
    req = parse_json(op.ChatCompletionRequest, body)
    messages, params = req.to_domain(default_max_tokens=ctx.settings.max_tokens_default)
    call = ModelCall(
        operation="ChatCompletions",
        model_id=req.model,
        metadata=req.metadata,
        input_body=req.model_dump(mode="json", exclude_none=True, by_alias=True),
        messages=messages,
        params=params,
        render=lambda c, ms: op.chat_completion_response(c, req.model).model_dump(mode="json"),
    )
    if req.stream:
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        chunks = op.ChatCompletionChunks(req.model, include_usage=include_usage)
        return await stream_logged(ctx, call, SSEWire(chunks))
    out, _, _ = await run_logged(ctx, call)
    return JSONResponse(out)


def list_models(request: "Request") -> "JSONResponse":
    """Every model that can be called: active deployments (by name and custom model ARN) and catalog models."""
    from fastapi.responses import JSONResponse

    verify_bearer(request)
    ctx = context(request)
    now = int(time.time())
    cards: dict[str, op.ModelCard] = {}
    summaries = ctx.jobs.list_deployments(
        {"statusEquals": "Active", "maxResults": 1000}
    ).modelDeploymentSummaries
    for dep in summaries:
        created = int(dep.createdAt.timestamp())
        for model_id in (dep.customModelDeploymentName, dep.modelArn):
            cards.setdefault(model_id, op.ModelCard(id=model_id, created=created))
    for name in sorted(ctx.registry.catalog_names):
        cards.setdefault(name, op.ModelCard(id=name, created=now, owned_by="stillhouse-catalog"))
    return JSONResponse(op.ModelList(data=list(cards.values())).model_dump(mode="json"))


def router() -> "APIRouter":
    """The ``/v1`` routes."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, StreamingResponse

    r = APIRouter(prefix="/v1", tags=["openai"])

    @r.post("/chat/completions", response_model=None)
    async def _chat(request: Request) -> JSONResponse | StreamingResponse:
        return await chat_completions(request)

    @r.get("/models")
    def _models(request: Request) -> JSONResponse:
        return list_models(request)

    return r
