"""OpenAI-compatible chat-completions over HTTP (vLLM, Ollama, llama.cpp's server, stillhouse's own).

Only ``httpx``: ``POST {base_url}/chat/completions``. Transient failures become the retryable stillhouse
errors (429 → :class:`ThrottledError`, 5xx → :class:`ServiceUnavailableError`, timeouts →
:class:`ModelTimeoutError`) so the teacher's retry logic can act; nothing is retried here.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stillhouse.chat import (
    LOGPROB_DECIMALS,
    Completion,
    GenerationParams,
    Message,
    StopReason,
    TokenDistribution,
)
from stillhouse.errors import (
    AccessDeniedError,
    InvalidInputError,
    ModelError,
    ModelTimeoutError,
    NotFoundError,
    ServiceUnavailableError,
    StillhouseError,
    ThrottledError,
)


class ChatRequest(BaseModel):
    """The request body we send (only fields every compatible server accepts)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int
    temperature: float
    top_p: float
    stop: list[str] | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    stream: bool | None = None
    stream_options: dict[str, bool] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)  # OpenAI's range


class _Lenient(BaseModel):
    # Responses come from many servers that add their own fields: ignore what we do not read.
    model_config = ConfigDict(extra="ignore")


class _ResponseMessage(_Lenient):
    role: Literal["assistant"] = "assistant"
    content: str | None = None


class _TopLogprob(_Lenient):
    token: str
    logprob: float
    bytes: list[int] | None = None


class _TokenLogprob(_TopLogprob):
    top_logprobs: list[_TopLogprob] = []


class _Logprobs(_Lenient):
    content: list[_TokenLogprob] | None = None


class _Choice(_Lenient):
    message: _ResponseMessage
    logprobs: _Logprobs | None = None
    finish_reason: str | None = None
    stop_reason: str | int | None = None  # vLLM: the stop string or token that ended generation


class _Usage(_Lenient):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatResponse(_Lenient):
    """The parts of a chat-completions response we use."""

    choices: list[_Choice]
    usage: _Usage = _Usage()


class _Delta(_Lenient):
    content: str | None = None


class _ChunkChoice(_Lenient):
    delta: _Delta = _Delta()
    finish_reason: str | None = None
    stop_reason: str | int | None = None


class ChatChunk(_Lenient):
    """The parts of a ``chat.completion.chunk`` we use (the usage chunk has no choices)."""

    choices: list[_ChunkChoice] = []
    usage: _Usage | None = None


def sse_data(lines: Iterator[str]) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream, up to ``[DONE]``."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments, event names, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield data


def _content(message: Message) -> str | list[dict[str, Any]]:
    """Text, or text + data-URI image parts when the turn carries images."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        url = f"data:image/{image.format};base64,{base64.b64encode(image.data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def build_request(model: str, messages: list[Message], params: GenerationParams) -> ChatRequest:
    """Domain conversation + params → the wire request."""
    response_format = None
    if params.json_schema is not None:
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": params.json_schema, "strict": True},
        }
    return ChatRequest(
        model=model,
        messages=[{"role": m.role, "content": _content(m)} for m in messages],
        max_tokens=params.max_tokens,
        temperature=params.temperature,
        top_p=params.top_p,
        stop=list(params.stop) or None,
        seed=params.seed,
        response_format=response_format,
    )


def map_stop_reason(choice: _Choice, stops: tuple[str, ...]) -> StopReason:
    """OpenAI finish reasons → ours. ``stop`` means a stop sequence only when the server says which."""
    if choice.finish_reason == "length":
        return "max_tokens"
    if choice.finish_reason == "stop" and isinstance(choice.stop_reason, str) and choice.stop_reason in stops:
        return "stop_sequence"
    return "end_turn"


def error_for_status(status: int, detail: str) -> StillhouseError:
    """An HTTP error status → the stillhouse error the caller can act on."""
    message = f"HTTP {status}: {detail[:500]}"
    if status == 429:
        return ThrottledError(message)
    if status == 408:
        return ModelTimeoutError(message)
    if status in (401, 403):
        return AccessDeniedError(message)
    if status == 404:
        return NotFoundError(message, field="model")
    if status in (400, 413, 422):
        return InvalidInputError(message)
    if status >= 500:
        return ServiceUnavailableError(message)
    return ModelError(message)


class OpenAIHTTPModel:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    # Servers that honour ``response_format: json_schema`` (vLLM, llama.cpp, stillhouse) constrain it;
    # callers still validate, since some servers ignore the field.
    supports_json_schema = True

    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}@{base_url}"
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout_s, transport=transport
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        """One chat completion; HTTP failures raise stillhouse errors."""
        return self._complete(build_request(self.model, messages, params), params)[0]

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        """:meth:`generate` with ``logprobs``/``top_logprobs``. The API names tokens by their text,
        not their id, so the ids are -1: such distributions serve the cross-tokenizer loss (ULD),
        which needs only the probabilities."""
        request = build_request(self.model, messages, params).model_copy(
            update={"logprobs": True, "top_logprobs": top_k}
        )
        completion, choice = self._complete(request, params)
        if choice.logprobs is None or choice.logprobs.content is None:
            raise ModelError(f"{self.name} answered without the logprobs it was asked for")
        return completion, distribution_from_logprobs(completion.text, choice.logprobs.content)

    def _complete(self, request: ChatRequest, params: GenerationParams) -> tuple[Completion, _Choice]:
        body = request.model_dump(exclude_none=True)
        started = time.perf_counter()
        try:
            response = self._client.post("chat/completions", json=body)
        except httpx.TimeoutException as exc:
            raise ModelTimeoutError(f"{self.name} did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"{self.name} unreachable: {exc}") from exc
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code >= 400:
            raise error_for_status(response.status_code, response.text)
        try:
            parsed = ChatResponse.model_validate_json(response.content)
        except ValidationError as exc:
            raise ModelError(f"{self.name} answered with an unexpected body: {exc}") from exc
        if not parsed.choices:
            raise ModelError(f"{self.name} answered with no choices")
        choice = parsed.choices[0]
        completion = Completion(
            text=choice.message.content or "",
            model=self.name,
            input_tokens=parsed.usage.prompt_tokens,
            output_tokens=parsed.usage.completion_tokens,
            latency_ms=latency_ms,
            stop_reason=map_stop_reason(choice, params.stop),
        )
        return completion, choice

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        """The server's ``stream: true`` deltas; usage from its last chunk (``include_usage``)."""
        request = build_request(self.model, messages, params).model_copy(
            update={"stream": True, "stream_options": {"include_usage": True}}
        )
        started = time.perf_counter()
        parts: list[str] = []
        usage, last = _Usage(), _ChunkChoice()
        try:
            with self._client.stream(
                "POST", "chat/completions", json=request.model_dump(exclude_none=True)
            ) as response:
                if response.status_code >= 400:
                    raise error_for_status(response.status_code, response.read().decode("utf-8", "replace"))
                for data in sse_data(response.iter_lines()):
                    chunk = _parse_chunk(self.name, data)
                    usage = chunk.usage or usage
                    for choice in chunk.choices[:1]:
                        last = choice if choice.finish_reason else last
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
        except httpx.TimeoutException as exc:
            raise ModelTimeoutError(f"{self.name} did not answer in time: {exc}") from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(f"{self.name} unreachable: {exc}") from exc
        choice = _Choice(
            message=_ResponseMessage(), finish_reason=last.finish_reason, stop_reason=last.stop_reason
        )
        yield Completion(
            text="".join(parts),
            model=self.name,
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            latency_ms=(time.perf_counter() - started) * 1000,
            stop_reason=map_stop_reason(choice, params.stop),
        )


def _parse_chunk(name: str, data: str) -> ChatChunk:
    """One chunk, or the error a server sends inside the stream (``{"error": {...}}``)."""
    import json

    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise ModelError(f"{name} streamed a chunk that is not JSON: {data[:200]}") from exc
    if isinstance(raw, dict) and isinstance(raw.get("error"), dict):
        raise ModelError(f"{name} failed mid-stream: {raw['error'].get('message', raw['error'])}")
    try:
        return ChatChunk.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(f"{name} streamed an unexpected chunk: {exc}") from exc


def distribution_from_logprobs(text: str, content: list[_TokenLogprob]) -> TokenDistribution:
    """An OpenAI ``logprobs.content`` list as a :class:`TokenDistribution` of ``text`` (ids -1;
    offsets from each token's ``bytes``, or its text where a server sends none)."""
    offsets, so_far = [], b""
    for item in content:
        offsets.append(len(so_far.decode("utf-8", errors="ignore")))
        so_far += bytes(item.bytes) if item.bytes is not None else item.token.encode("utf-8")
    return TokenDistribution(
        text=text,
        offsets=tuple(offsets),
        ids=tuple(-1 for _ in content),
        top_ids=tuple(tuple(-1 for _ in item.top_logprobs) for item in content),
        top_logprobs=tuple(
            tuple(
                round(t.logprob, LOGPROB_DECIMALS)
                for t in sorted(item.top_logprobs, key=lambda t: -t.logprob)
            )
            for item in content
        ),
    )
