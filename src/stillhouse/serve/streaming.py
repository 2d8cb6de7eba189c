"""Streamed calls, whatever their wire: generate on the model's pool, send each delta as it comes,
log the call like a non-streamed one.

A stream is begun only once the model has written its first delta, so a call that cannot be served
(an unknown model, a prompt too long, a model failing at once) is an ordinary HTTP error with its
status; a failure after that travels inside the stream, as the wire's own error message. The
invocation log gets the body the non-streamed call would have answered. A client that hangs up
cancels the response: the pool stops the generation and frees the replica (serve/deployments.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from stillhouse.chat import Completion
from stillhouse.serve.context import ServeContext
from stillhouse.serve.errors import as_stillhouse_error
from stillhouse.serve.runtime import ModelCall, call_record, log_record

if TYPE_CHECKING:
    from fastapi.responses import StreamingResponse


class StreamWire(Protocol):
    """How one wire frames a stream: its media type and headers, and the bytes of each part."""

    media_type: str
    headers: dict[str, str]

    def start(self) -> bytes: ...

    def delta(self, text: str) -> bytes: ...

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes: ...

    def error(self, exc: Exception) -> bytes: ...


async def stream_logged(ctx: ServeContext, call: ModelCall, wire: StreamWire) -> StreamingResponse:
    """The streaming response of ``call``; errors before its first delta are raised (HTTP errors)."""
    from fastapi.responses import StreamingResponse

    started = time.perf_counter()
    try:
        pool, may_wait = ctx.resolve(call.model_id)
        items = pool.stream(call.messages, call.params, wait_load=may_wait)
        first = await anext(items)
    except Exception as exc:
        err = as_stillhouse_error(exc)
        await log_record(ctx, call_record(ctx, call, None, error=err))
        raise err from exc
    first_byte_ms = (time.perf_counter() - started) * 1000
    body = _body(ctx, call, wire, items, first, started, first_byte_ms)
    return StreamingResponse(body, media_type=wire.media_type, headers=wire.headers)


async def _body(
    ctx: ServeContext,
    call: ModelCall,
    wire: StreamWire,
    items: AsyncIterator[str | Completion],
    item: str | Completion,
    started: float,
    first_byte_ms: float,
) -> AsyncIterator[bytes]:
    yield wire.start()
    try:
        while not isinstance(item, Completion):
            yield wire.delta(item)
            item = await anext(items)
        latency_ms = (time.perf_counter() - started) * 1000
        last = wire.end(item, latency_ms, first_byte_ms)
        record = call_record(ctx, call, call.render(item, latency_ms), completion=item)
    except Exception as exc:  # not a cancellation: a client gone closes the stream below
        err = as_stillhouse_error(exc)
        last, record = wire.error(err), call_record(ctx, call, None, error=err)
    finally:
        await items.aclose()  # a hang-up cancels us mid-stream: the pool frees the replica here
    await log_record(ctx, record)  # durable before the client sees the stream end
    yield last
