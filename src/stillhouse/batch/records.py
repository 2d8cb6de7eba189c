"""The lines of a batch inference file, pure: ``{"recordId", "modelInput"}`` in, Bedrock's output line
(``modelOutput``, or ``error`` for a record that failed) out.

``modelInput`` is what the record's call would send: a Converse body when the job's
``modelInvocationType`` is ``Converse``, otherwise the model's native InvokeModel body (the dialects
:mod:`stillhouse.serve.bedrock_protocol` reads). A line that is not JSON, has no ``modelInput`` or an
unreadable body becomes an error line; it never stops the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.serve import bedrock_protocol as bp


@dataclass(frozen=True)
class Decoded:
    """A record's call: domain messages and parameters, and how to render the answer."""

    messages: list[Message]
    params: GenerationParams
    converse: bool
    invoke: bp.InvokeRequest | None = None


@dataclass(frozen=True)
class BatchRecord:
    """One input line: its id, its ``modelInput`` as given, and the decoded call or why not."""

    index: int
    record_id: str
    model_input: Any
    call: Decoded | None = None
    error: str | None = None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


def decode_input(body: Any, invocation_type: str | None, default_max_tokens: int) -> Decoded:
    """The call a ``modelInput`` asks for (``ValueError``/``ValidationError`` when unreadable)."""
    if not isinstance(body, dict):
        raise ValueError("modelInput must be a JSON object")
    if invocation_type == "Converse":
        return _converse(body, default_max_tokens)
    try:
        req = bp.parse_invoke_body(body)
        messages, params = bp.invoke_to_domain(req, default_max_tokens=default_max_tokens)
        return Decoded(messages, params, converse=False, invoke=req)
    except (ValueError, ValidationError):
        if invocation_type == "InvokeModel":
            raise
        # No type given: a Converse body (inferenceConfig.maxTokens, not Nova's max_new_tokens) is
        # read as one; a body that is neither is reported by its native dialect's complaint.
        try:
            return _converse(body, default_max_tokens)
        except (ValueError, ValidationError):
            pass
        raise


def _converse(body: dict[str, Any], default_max_tokens: int) -> Decoded:
    conv = bp.ConverseRequest.model_validate(body)
    messages, params = bp.converse_to_domain(conv, default_max_tokens=default_max_tokens)
    return Decoded(messages, params, converse=True)


def parse_line(index: int, line: str, invocation_type: str | None, default_max_tokens: int) -> BatchRecord:
    """Read one input line (``index`` counts from 0; a record without ``recordId`` gets one)."""
    fallback = f"{index + 1:011d}"
    try:
        data = json.loads(line)
    except ValueError as exc:
        return BatchRecord(index, fallback, line, error=f"the line is not JSON: {exc}")
    if not isinstance(data, dict) or "modelInput" not in data:
        return BatchRecord(index, fallback, data, error="a record needs 'modelInput'")
    record_id = data.get("recordId")
    record_id = str(record_id) if isinstance(record_id, str | int) and str(record_id) else fallback
    try:
        call = decode_input(data["modelInput"], invocation_type, default_max_tokens)
    except (ValueError, ValidationError) as exc:
        return BatchRecord(index, record_id, data["modelInput"], error=_reason(exc))
    return BatchRecord(index, record_id, data["modelInput"], call=call)


def model_output(call: Decoded, completion: Completion, model_id: str) -> dict[str, Any]:
    """The answer in the body the record's call would have returned."""
    if call.converse:
        return bp.converse_response(completion, completion.latency_ms).model_dump(
            mode="json", exclude_none=True
        )
    assert call.invoke is not None
    return bp.invoke_response(call.invoke, completion, model_id)


def output_line(record: BatchRecord, output: dict[str, Any] | None, error: tuple[int, str] | None) -> str:
    """Bedrock's output line: ``modelOutput`` for an answer, ``error`` (code and message) otherwise."""
    line: dict[str, Any] = {"recordId": record.record_id, "modelInput": record.model_input}
    if error is not None:
        line["error"] = {"errorCode": error[0], "errorMessage": error[1]}
    else:
        line["modelOutput"] = output
    return json.dumps(line, ensure_ascii=False)
