"""The Bedrock runtime's streaming operations: ``POST /model/{modelId}/converse-stream``
(``ConverseStream``) and ``POST /model/{modelId}/invoke-with-response-stream``
(``InvokeModelWithResponseStream``), in AWS event-stream framing. Requests are read as their
non-streamed twins read them; the events are rendered by :mod:`stillhouse.serve.bedrock_stream`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stillhouse.chat import Completion
from stillhouse.serve import eventstream
from stillhouse.serve.bedrock_stream import ConverseEvents, InvokeEvents, StreamEvents
from stillhouse.serve.context import ServeContext, authed
from stillhouse.serve.errors import CONVERSE_STREAM_ERRORS, INVOKE_STREAM_ERRORS, stream_exception
from stillhouse.serve.runtime import converse_call, invoke_call
from stillhouse.serve.streaming import StreamWire, stream_logged

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
    ctx, body = await authed(request)
    wire = BedrockWire(ConverseEvents(), CONVERSE_STREAM_ERRORS)
    return await converse_stream_body(ctx, model_id, body, wire)


async def converse_stream_body(
    ctx: ServeContext, model_id: str, body: bytes, wire: StreamWire
) -> StreamingResponse:
    """A ``ConverseStream`` request body streamed and logged, framed by ``wire`` (the API's event
    stream, or the console playground's server-sent events)."""
    return await stream_logged(ctx, converse_call(ctx, "ConverseStream", model_id, body), wire)


async def invoke_stream(model_id: str, request: Request) -> StreamingResponse:
    """Bedrock ``InvokeModelWithResponseStream`` (the bodies ``InvokeModel`` understands)."""
    ctx, call, req = await invoke_call(request, "InvokeModelWithResponseStream", model_id)
    wire = BedrockWire(
        InvokeEvents(req, model_id),
        INVOKE_STREAM_ERRORS,
        headers={"X-Amzn-Bedrock-Content-Type": "application/json"},
    )
    return await stream_logged(ctx, call, wire)
