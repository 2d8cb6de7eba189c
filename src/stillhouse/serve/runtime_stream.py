"""The Bedrock runtime's streaming operations: ``POST /model/{modelId}/converse-stream``
(``ConverseStream``) and ``POST /model/{modelId}/invoke-with-response-stream``
(``InvokeModelWithResponseStream``), in AWS event-stream framing. Requests are read as their
non-streamed twins read them; the events are rendered by :mod:`stillhouse.serve.bedrock_stream`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stillhouse.chat import Completion
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve import eventstream
from stillhouse.serve.bedrock_stream import ConverseEvents, InvokeEvents, StreamEvents
from stillhouse.serve.context import (
    ServeContext,
    context,
    parse_json,
    parse_json_object,
    read_body,
    verify_sigv4,
)
from stillhouse.serve.errors import (
    CONVERSE_STREAM_ERRORS,
    INVOKE_STREAM_ERRORS,
    as_stillhouse_error,
    stream_exception,
)
from stillhouse.serve.streaming import StreamCall, StreamWire, stream_logged

if TYPE_CHECKING:
    from fastapi import Request
    from fastapi.responses import StreamingResponse


@dataclass
class BedrockWire:
    """A Bedrock stream: its events, and the members of its union that errors travel as."""

    events: StreamEvents
    error_members: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = eventstream.CONTENT_TYPE

    def start(self) -> bytes:
        return self.events.start()

    def delta(self, text: str) -> bytes:
        return self.events.delta(text)

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes:
        return self.events.end(completion, latency_ms, first_byte_ms)

    def error(self, exc: Exception) -> bytes:
        return stream_exception(exc, self.error_members)


async def converse_stream(model_id: str, request: Request) -> StreamingResponse:
    """Bedrock ``ConverseStream``."""
    body = await read_body(request)
    verify_sigv4(request, body)
    wire = BedrockWire(ConverseEvents(), CONVERSE_STREAM_ERRORS)
    return await converse_stream_body(context(request), model_id, body, wire)


async def converse_stream_body(
    ctx: ServeContext, model_id: str, body: bytes, wire: StreamWire
) -> StreamingResponse:
    """A ``ConverseStream`` request body streamed and logged, framed by ``wire`` (the API's event
    stream, or the console playground's server-sent events)."""
    req = parse_json(bp.ConverseRequest, body)
    messages, params = bp.converse_to_domain(req, default_max_tokens=ctx.settings.max_tokens_default)
    call = StreamCall(
        operation="ConverseStream",
        model_id=model_id,
        metadata=req.requestMetadata,
        input_body=req.model_dump(mode="json", exclude_none=True, by_alias=True),
        messages=messages,
        params=params,
        final_body=lambda c, ms: bp.converse_response(c, ms).model_dump(mode="json", exclude_none=True),
    )
    return await stream_logged(ctx, call, wire)


async def invoke_stream(model_id: str, request: Request) -> StreamingResponse:
    """Bedrock ``InvokeModelWithResponseStream`` (the bodies ``InvokeModel`` understands)."""
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
    call = StreamCall(
        operation="InvokeModelWithResponseStream",
        model_id=model_id,
        metadata=metadata,
        input_body=raw,
        messages=messages,
        params=params,
        final_body=lambda c, ms: bp.invoke_response(req, c, model_id),
    )
    wire = BedrockWire(
        InvokeEvents(req, model_id),
        INVOKE_STREAM_ERRORS,
        headers={"X-Amzn-Bedrock-Content-Type": "application/json"},
    )
    return await stream_logged(ctx, call, wire)
