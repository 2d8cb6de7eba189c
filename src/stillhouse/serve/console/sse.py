"""The playground's stream framing: server-sent events a ``fetch`` reads as they arrive (pure).

A :class:`~stillhouse.serve.streaming.StreamWire`, so the playground's stream is the server's one
streamed call (:func:`stillhouse.serve.runtime_stream.converse_stream_body`), logged as a
``ConverseStream``; only the framing differs from the API's event stream. Events: ``delta``
(``{"text"}``), then ``end`` (``{"stopReason", "usage", "latencyMs"}``) or ``error``
(``{"code", "message"}``), each ``data`` one line of JSON.
"""

from __future__ import annotations

import json
from typing import Any

from stillhouse.chat import Completion

MEDIA_TYPE = "text/event-stream"


def event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class SseWire:
    media_type = MEDIA_TYPE
    # no-transform: a proxy that buffers or compresses would hold the deltas back.
    headers = {"Cache-Control": "no-store, no-transform", "X-Accel-Buffering": "no"}

    def start(self) -> bytes:
        return b": stream\n\n"  # a comment: the client's reader starts at once

    def delta(self, text: str) -> bytes:
        return event("delta", {"text": text})

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes:
        usage = {"inputTokens": completion.input_tokens, "outputTokens": completion.output_tokens}
        return event(
            "end", {"stopReason": completion.stop_reason, "usage": usage, "latencyMs": round(latency_ms)}
        )

    def error(self, exc: Exception) -> bytes:
        return event("error", {"code": getattr(exc, "code", "InternalServerException"), "message": str(exc)})
