"""Amazon Bedrock Converse (boto3 ``bedrock-runtime``) behind :class:`~stillhouse.chat.ChatModel`.

Works against real Bedrock with the standard AWS credential chain, or any Converse-compatible
endpoint (stillhouse's own server) given ``endpoint_url`` or ``STILLHOUSE_BEDROCK_ENDPOINT``. boto3's
own retries are off: throttling and timeouts surface as retryable stillhouse errors and the teacher's
retry policy decides.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stillhouse.chat import Completion, GenerationParams, Message, StopReason, system_text, without_system
from stillhouse.errors import (
    AccessDeniedError,
    ConflictError,
    IncompleteSignatureError,
    InvalidInputError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    MissingDependencyError,
    ModelError,
    ModelNotReadyError,
    ModelTimeoutError,
    NotFoundError,
    ServiceUnavailableError,
    StillhouseError,
    ThrottledError,
    UnrecognizedClientError,
)

ENDPOINT_ENV = "STILLHOUSE_BEDROCK_ENDPOINT"

# Bedrock exception names → stillhouse errors (the Bedrock code survives as ``error.code``).
_ERRORS: dict[str, type[StillhouseError]] = {
    "ThrottlingException": ThrottledError,
    "TooManyRequestsException": ThrottledError,
    "ServiceQuotaExceededException": ThrottledError,
    "ModelTimeoutException": ModelTimeoutError,
    "ServiceUnavailableException": ServiceUnavailableError,
    "InternalServerException": ServiceUnavailableError,
    "ValidationException": InvalidInputError,
    "AccessDeniedException": AccessDeniedError,
    "UnrecognizedClientException": UnrecognizedClientError,
    "InvalidSignatureException": InvalidSignatureError,
    "IncompleteSignatureException": IncompleteSignatureError,
    "MissingAuthenticationTokenException": MissingAuthenticationTokenError,
    "ExpiredTokenException": AccessDeniedError,
    "ResourceNotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "ModelNotReadyException": ModelNotReadyError,
    "ModelErrorException": ModelError,
}

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "model_context_window_exceeded": "max_tokens",
}


# A stream's error events name the member of its union (camelCase), not the exception.
_STREAM_ERRORS = {
    "modelStreamErrorException": "ModelErrorException",
    "internalServerException": "InternalServerException",
    "validationException": "ValidationException",
    "throttlingException": "ThrottlingException",
    "serviceUnavailableException": "ServiceUnavailableException",
    "modelTimeoutException": "ModelTimeoutException",
}


def map_client_error(code: str, message: str) -> StillhouseError:
    """A Bedrock error code → the stillhouse error (unknown codes are model errors)."""
    return _ERRORS.get(code, ModelError)(f"{code}: {message}")


def to_converse(messages: list[Message], params: GenerationParams) -> dict[str, Any]:
    """Domain conversation + params → Converse keyword arguments (without ``modelId``)."""
    turns = []
    for m in without_system(messages):
        content: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
        content += [{"image": {"format": i.format, "source": {"bytes": i.data}}} for i in m.images]
        turns.append({"role": m.role, "content": content})
    inference: dict[str, Any] = {
        "maxTokens": params.max_tokens,
        "temperature": params.temperature,
        "topP": params.top_p,
    }
    if params.stop:
        inference["stopSequences"] = list(params.stop)
    request: dict[str, Any] = {"messages": turns, "inferenceConfig": inference}
    system = system_text(messages)
    if system:
        request["system"] = [{"text": system}]
    return request


def from_converse(response: dict[str, Any], model: str, latency_ms: float) -> Completion:
    """A Converse response → :class:`Completion` (text blocks joined; reasoning blocks skipped)."""
    content = response.get("output", {}).get("message", {}).get("content", [])
    text = "".join(block["text"] for block in content if "text" in block)
    usage = response.get("usage", {})
    measured = response.get("metrics", {}).get("latencyMs")
    return Completion(
        text=text,
        model=model,
        input_tokens=int(usage.get("inputTokens", 0)),
        output_tokens=int(usage.get("outputTokens", 0)),
        latency_ms=float(measured) if measured is not None else latency_ms,
        stop_reason=_STOP_REASONS.get(response.get("stopReason", "end_turn"), "end_turn"),
    )


def make_client(*, endpoint_url: str | None, region: str | None, timeout_s: float) -> Any:
    """A ``bedrock-runtime`` client with boto3's retries off and our timeout."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise MissingDependencyError(
            "the Bedrock backend needs boto3: pip install 'stillhouse[aws]'"
        ) from exc
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=timeout_s,
        connect_timeout=min(timeout_s, 10.0),
    )
    # A session of its own (not boto3's global default): credentials are resolved for this client
    # from the standard chain as it stands now, and sessions are not shared across threads.
    return boto3.session.Session().client(
        "bedrock-runtime",
        endpoint_url=endpoint_url or os.environ.get(ENDPOINT_ENV) or None,
        region_name=region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
        config=config,
    )


class BedrockModel:
    """A Bedrock (or Bedrock-compatible) model called through Converse."""

    # Converse has no general JSON-schema decoding; callers validate and retry.
    supports_json_schema = False

    def __init__(
        self,
        model_id: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        timeout_s: float = 120.0,
        client: Any = None,
    ) -> None:
        self.model_id = model_id
        self.name = f"bedrock:{model_id}"
        self._client = client or make_client(endpoint_url=endpoint_url, region=region, timeout_s=timeout_s)

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        """One Converse call; AWS errors raise the matching stillhouse errors."""
        request = to_converse(messages, params)
        started = time.perf_counter()
        with _translated(self.name):
            response = self._client.converse(modelId=self.model_id, **request)
        return from_converse(response, self.name, (time.perf_counter() - started) * 1000)

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        """One ConverseStream call: its text deltas, then the Completion its metadata event gives."""
        started = time.perf_counter()
        parts: list[str] = []
        stop, usage, measured = "end_turn", {}, None
        with _translated(self.name):
            events = self._client.converse_stream(modelId=self.model_id, **to_converse(messages, params))[
                "stream"
            ]
            try:
                for event in events:
                    if text := event.get("contentBlockDelta", {}).get("delta", {}).get("text"):
                        parts.append(text)
                        yield text
                    stop = event.get("messageStop", {}).get("stopReason", stop)
                    if "metadata" in event:
                        usage = event["metadata"].get("usage", {})
                        measured = event["metadata"].get("metrics", {}).get("latencyMs")
            finally:
                events.close()  # a consumer gone early hangs up: the server stops generating
        yield Completion(
            text="".join(parts),
            model=self.name,
            input_tokens=int(usage.get("inputTokens", 0)),
            output_tokens=int(usage.get("outputTokens", 0)),
            latency_ms=float(measured) if measured is not None else (time.perf_counter() - started) * 1000,
            stop_reason=_STOP_REASONS.get(stop, "end_turn"),
        )


@contextmanager
def _translated(name: str) -> Iterator[None]:
    """botocore's failures (an error event inside a stream too) as the matching stillhouse errors."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ParamValidationError,
        ReadTimeoutError,
    )

    try:
        yield
    except ClientError as exc:  # EventStreamError, an error inside a stream, is one too
        error = exc.response.get("Error", {})
        code = _STREAM_ERRORS.get(error.get("Code", ""), error.get("Code", "Unknown"))
        raise map_client_error(code, error.get("Message", str(exc))) from exc
    except (ReadTimeoutError, ConnectTimeoutError) as exc:
        raise ModelTimeoutError(f"{name} did not answer in time: {exc}") from exc
    except EndpointConnectionError as exc:
        raise ServiceUnavailableError(f"{name} unreachable: {exc}") from exc
    except ParamValidationError as exc:
        raise InvalidInputError(f"invalid Converse request: {exc}") from exc
    except NoCredentialsError as exc:
        raise AccessDeniedError(f"no AWS credentials for {name}: {exc}") from exc
