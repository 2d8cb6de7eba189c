"""Wire models of the OpenAI chat-completions API (the subset a chat model needs) and converters.

Unknown fields are refused so that, e.g., ``tools`` or ``n=3`` fail loudly instead of being ignored;
``response_format`` with a ``json_schema`` is passed to the model as a decoding constraint.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from stillhouse.chat import Completion, GenerationParams, Image, Message
from stillhouse.errors import InvalidInputError


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Wire):
    type: Literal["text"]
    text: str


class ImageURL(_Wire):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Wire):
    type: Literal["image_url"]
    image_url: ImageURL

    def to_domain(self) -> Image:
        """Only inline ``data:image/...;base64,`` URLs: the server never fetches from the network."""
        url = self.image_url.url
        if not (url.startswith("data:image/") and ";base64," in url):
            raise InvalidInputError("only data: URLs with base64 images are accepted", field="image_url.url")
        head, data = url.split(";base64,", 1)
        fmt = head.removeprefix("data:image/").replace("jpg", "jpeg")
        if fmt not in ("png", "jpeg", "gif", "webp"):
            raise InvalidInputError(f"unsupported image format {fmt!r}", field="image_url.url")
        try:
            return Image(format=fmt, data=base64.b64decode(data, validate=True))  # type: ignore[arg-type]
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("image data is not valid base64", field="image_url.url") from exc


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart | ImagePart]
    name: str | None = None

    def to_domain(self) -> Message:
        role = "system" if self.role == "developer" else self.role
        if isinstance(self.content, str):
            return Message(role=role, content=self.content)
        text = "".join(p.text for p in self.content if isinstance(p, TextPart))
        images = tuple(p.to_domain() for p in self.content if isinstance(p, ImagePart))
        return Message(role=role, content=text, images=images)


class JsonSchemaFormat(_Wire):
    name: str = Field(min_length=1, max_length=64)
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None
    description: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format type 'json_schema' needs a 'json_schema' object")
        return self


class StreamOptions(_Wire):
    """``include_usage`` adds a last chunk with the usage; the size-hiding ``obfuscation`` padding
    (a defence for traffic crossing the internet) is never added by this self-hosted server."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class ChatCompletionRequest(_Wire):
    """Body of ``POST /v1/chat/completions``."""

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: Literal[1] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, value: StreamOptions | None, info: ValidationInfo) -> StreamOptions | None:
        if value is not None and not info.data.get("stream"):
            raise ValueError("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
        return value

    def to_domain(self, *, default_max_tokens: int) -> tuple[list[Message], GenerationParams]:
        """Domain messages (system turns first, as the models expect) and decoding parameters."""
        turns = [m.to_domain() for m in self.messages]
        messages = [m for m in turns if m.role == "system"] + [m for m in turns if m.role != "system"]
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        params = GenerationParams(
            max_tokens=self.max_completion_tokens or self.max_tokens or default_max_tokens,
            temperature=self.temperature if self.temperature is not None else 0.0,
            top_p=self.top_p if self.top_p is not None else 1.0,
            stop=stop,
            json_schema=self._json_schema(),
            seed=self.seed,
        )
        return messages, params

    def _json_schema(self) -> dict[str, Any] | None:
        fmt = self.response_format
        if fmt is None or fmt.type == "text":
            return None
        if fmt.type == "json_object" or fmt.json_schema is None or fmt.json_schema.schema_ is None:
            return {"type": "object"}
        return fmt.json_schema.schema_


class ResponseMessage(_Wire):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(_Wire):
    index: int = 0
    message: ResponseMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(_Wire):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(_Wire):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


def finish_reason(completion: Completion) -> Literal["stop", "length"]:
    return "length" if completion.stop_reason == "max_tokens" else "stop"


def usage_of(completion: Completion) -> Usage:
    return Usage(
        prompt_tokens=completion.input_tokens,
        completion_tokens=completion.output_tokens,
        total_tokens=completion.total_tokens,
    )


def chat_completion_response(completion: Completion, model: str) -> ChatCompletionResponse:
    """The OpenAI answer for a completion (``model`` echoes what the caller asked for)."""
    finish = finish_reason(completion)
    return ChatCompletionResponse(
        id=f"chatcmpl-{uuid.uuid4().hex}",
        created=int(time.time()),
        model=model,
        choices=[Choice(message=ResponseMessage(content=completion.text), finish_reason=finish)],
        usage=usage_of(completion),
    )


class ChatCompletionChunks:
    """The ``chat.completion.chunk`` objects of one streamed answer, as OpenAI sends them: the role
    first, one chunk per delta, the finish reason, then (``include_usage``) a usage chunk with no
    choices; every other chunk then carries ``"usage": null``."""

    def __init__(self, model: str, *, include_usage: bool = False) -> None:
        self.id, self.created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        self.model, self.include_usage = model, include_usage

    def _chunk(self, choices: list[dict[str, Any]], usage: Usage | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage.model_dump() if usage is not None else None
        return chunk

    def _choice(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def start(self) -> list[dict[str, Any]]:
        return [self._chunk([self._choice({"role": "assistant", "content": "", "refusal": None})])]

    def delta(self, text: str) -> list[dict[str, Any]]:
        return [self._chunk([self._choice({"content": text})])]

    def end(self, completion: Completion) -> list[dict[str, Any]]:
        chunks = [self._chunk([self._choice({}, finish_reason(completion))])]
        if self.include_usage:
            chunks.append(self._chunk([], usage_of(completion)))
        return chunks


class ModelCard(_Wire):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "stillhouse"


class ModelList(_Wire):
    object: Literal["list"] = "list"
    data: list[ModelCard]
