"""The events of Bedrock's streaming runtime, rendered from a domain stream. Pure.

``ConverseStream`` answers ``messageStart``, one ``contentBlockDelta`` per text delta,
``contentBlockStop``, ``messageStop`` and ``metadata`` (usage, latency), each an event-stream
event of the ``ConverseStreamOutput`` union. ``InvokeModelWithResponseStream`` answers ``chunk``
events whose ``bytes`` (base64 in the JSON payload, as botocore reads a blob) are the model
family's own stream chunks: Anthropic messages events, Nova's Converse-like chunks or Llama's
``generation`` pieces, the last one carrying ``amazon-bedrock-invocationMetrics``.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Protocol

from stillhouse.chat import Completion
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve import eventstream as es


class StreamEvents(Protocol):
    """The bytes of one streaming response: its opening, each delta, and its end."""

    def start(self) -> bytes: ...

    def delta(self, text: str) -> bytes: ...

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes: ...


class ConverseEvents:
    """``ConverseStream``'s events (text in content block 0)."""

    def start(self) -> bytes:
        return es.event("messageStart", {"role": "assistant"})

    def delta(self, text: str) -> bytes:
        return es.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}})

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes:
        usage = bp.TokenUsageWire(
            inputTokens=completion.input_tokens,
            outputTokens=completion.output_tokens,
            totalTokens=completion.total_tokens,
        )
        return b"".join(
            [
                es.event("contentBlockStop", {"contentBlockIndex": 0}),
                es.event("messageStop", {"stopReason": completion.stop_reason}),
                es.event(
                    "metadata",
                    {"usage": usage.model_dump(), "metrics": {"latencyMs": int(round(latency_ms))}},
                ),
            ]
        )


def chunk(body: dict[str, Any]) -> bytes:
    """One ``chunk`` event of ``InvokeModelWithResponseStream``."""
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return es.event("chunk", {"bytes": base64.b64encode(data).decode("ascii")})


def invocation_metrics(completion: Completion, latency_ms: float, first_byte_ms: float) -> dict[str, int]:
    """``amazon-bedrock-invocationMetrics``, which Bedrock adds to a stream's last chunk."""
    return {
        "inputTokenCount": completion.input_tokens,
        "outputTokenCount": completion.output_tokens,
        "invocationLatency": int(round(latency_ms)),
        "firstByteLatency": int(round(first_byte_ms)),
    }


class InvokeEvents:
    """``InvokeModelWithResponseStream``'s chunks in the dialect of the request body.

    Token counts are known once the answer is complete, so Anthropic's ``message_start`` reports
    none and its ``message_delta`` both.
    """

    def __init__(self, req: bp.InvokeRequest, model_id: str) -> None:
        self.req, self.model_id = req, model_id

    def start(self) -> bytes:
        if isinstance(self.req, bp.AnthropicInvokeRequest):
            message = {
                "id": f"msg_bdrk_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": self.model_id,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }
            return chunk({"type": "message_start", "message": message}) + chunk(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
            )
        if isinstance(self.req, bp.NovaInvokeRequest):
            return chunk({"messageStart": {"role": "assistant"}})
        return b""

    def delta(self, text: str) -> bytes:
        if isinstance(self.req, bp.AnthropicInvokeRequest):
            return chunk(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
            )
        if isinstance(self.req, bp.NovaInvokeRequest):
            return chunk({"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": 0}})
        return chunk(
            {
                "generation": text,
                "prompt_token_count": None,
                "generation_token_count": None,
                "stop_reason": None,
            }
        )

    def end(self, completion: Completion, latency_ms: float, first_byte_ms: float) -> bytes:
        metrics = {
            "amazon-bedrock-invocationMetrics": invocation_metrics(completion, latency_ms, first_byte_ms)
        }
        if isinstance(self.req, bp.AnthropicInvokeRequest):
            usage = {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens}
            stop = {"stop_reason": completion.stop_reason, "stop_sequence": None}
            return b"".join(
                [
                    chunk({"type": "content_block_stop", "index": 0}),
                    chunk({"type": "message_delta", "delta": stop, "usage": usage}),
                    chunk({"type": "message_stop", **metrics}),
                ]
            )
        if isinstance(self.req, bp.NovaInvokeRequest):
            usage = {"inputTokens": completion.input_tokens, "outputTokens": completion.output_tokens}
            return b"".join(
                [
                    chunk({"contentBlockStop": {"contentBlockIndex": 0}}),
                    chunk({"messageStop": {"stopReason": completion.stop_reason}}),
                    chunk({"metadata": {"usage": usage, "metrics": {}, "trace": {}}, **metrics}),
                ]
            )
        return chunk(
            {
                "generation": "",
                "prompt_token_count": completion.input_tokens,
                "generation_token_count": completion.output_tokens,
                "stop_reason": "length" if completion.stop_reason == "max_tokens" else "stop",
                **metrics,
            }
        )
