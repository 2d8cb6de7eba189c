"""Wire models of the Bedrock runtime (Converse, InvokeModel bodies) and their domain converters.

These mirror Bedrock's JSON exactly and refuse unknown keys, so an unsupported feature
(``toolConfig``, a ``document`` block, ...) is a clear 400 naming the field rather than a silently
ignored setting. The control-plane shapes live in :mod:`stillhouse.jobs.schema`. Converters turn
requests into domain :class:`~stillhouse.chat.Message` / :class:`~stillhouse.chat.GenerationParams`
and a :class:`~stillhouse.chat.Completion` back into each response shape.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stillhouse.chat import Completion, GenerationParams, Image, Message
from stillhouse.errors import InvalidInputError

_META_PATTERN = r"^[a-zA-Z0-9\s:_@$#=/+,\-.]{0,256}$"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageSourceWire(_Wire):
    bytes: str  # base64, as botocore serialises blobs in JSON


class ImageBlockWire(_Wire):
    format: Literal["png", "jpeg", "gif", "webp"]
    source: ImageSourceWire

    def to_domain(self) -> Image:
        try:
            data = base64.b64decode(self.source.bytes, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError("image bytes are not valid base64", field="image.source.bytes") from exc
        return Image(format=self.format, data=data)


class ContentBlockWire(_Wire):
    """Exactly one of ``text`` or ``image`` (other Bedrock block types are not supported here)."""

    text: str | None = None
    image: ImageBlockWire | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ContentBlockWire:
        if (self.text is None) == (self.image is None):
            raise ValueError("a content block needs exactly one of 'text' or 'image'")
        return self


class MessageWire(_Wire):
    role: Literal["user", "assistant"]
    content: list[ContentBlockWire] = Field(min_length=1)


class SystemBlockWire(_Wire):
    text: str


class InferenceConfigWire(_Wire):
    maxTokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    topP: float | None = Field(default=None, gt=0.0, le=1.0)
    stopSequences: list[str] | None = Field(default=None, max_length=4)


class JsonSchemaDefinitionWire(_Wire):
    schema_: str = Field(alias="schema")  # JSON text, as Bedrock takes it
    name: str | None = None
    description: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def parsed(self) -> dict[str, Any]:
        import json

        try:
            schema = json.loads(self.schema_)
        except ValueError as exc:
            raise InvalidInputError(
                f"is not valid JSON: {exc}", field="outputConfig.textFormat.structure.jsonSchema.schema"
            ) from exc
        if not isinstance(schema, dict):
            raise InvalidInputError(
                "must be a JSON object", field="outputConfig.textFormat.structure.jsonSchema.schema"
            )
        return schema


class OutputFormatStructureWire(_Wire):
    jsonSchema: JsonSchemaDefinitionWire


class OutputFormatWire(_Wire):
    type: Literal["json_schema"]
    structure: OutputFormatStructureWire


class OutputConfigWire(_Wire):
    """Structured output: the answer is constrained to ``textFormat``'s JSON schema."""

    textFormat: OutputFormatWire | None = None


class ConverseRequest(_Wire):
    """Body of ``POST /model/{modelId}/converse`` (and of ``converse-stream``: the same members)."""

    messages: list[MessageWire] = Field(min_length=1)
    system: list[SystemBlockWire] | None = None
    inferenceConfig: InferenceConfigWire | None = None
    outputConfig: OutputConfigWire | None = None
    requestMetadata: dict[str, str] | None = Field(default=None, min_length=1, max_length=16)

    @field_validator("requestMetadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return check_request_metadata(value)

    @model_validator(mode="after")
    def _alternating(self) -> ConverseRequest:
        # Bedrock's own refusals, in its words: the first turn is the user's, roles alternate, and
        # no text block is blank.
        if self.messages[0].role != "user":
            raise ValueError(
                "A conversation must start with a user message. Try again with a conversation that "
                "starts with a user message."
            )
        if any(a.role == b.role for a, b in zip(self.messages, self.messages[1:], strict=False)):
            raise ValueError(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        if self.messages[-1].role != "user":
            raise ValueError("messages must start and end with a 'user' turn")
        for i, m in enumerate(self.messages):
            for j, block in enumerate(m.content):
                if block.text is not None and not block.text.strip():
                    raise ValueError(
                        f"The text field in the ContentBlock object at messages.{i}.content.{j} is "
                        "blank. Add text to the text field, and try again."
                    )
        return self


def check_request_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    """Bedrock's limits on ``requestMetadata``: 1–16 pairs, keys 1–256 and values 0–256 safe chars."""
    import re

    for key, val in (value or {}).items():
        if not key or not re.match(_META_PATTERN, key) or not re.match(_META_PATTERN, val):
            raise ValueError(f"requestMetadata pair {key!r} has an empty key or unsupported characters")
    return value


class OutputMessageWire(_Wire):
    role: Literal["assistant"] = "assistant"
    content: list[ContentBlockWire]


class ConverseOutputWire(_Wire):
    message: OutputMessageWire


class TokenUsageWire(_Wire):
    inputTokens: int
    outputTokens: int
    totalTokens: int


class ConverseMetricsWire(_Wire):
    latencyMs: int


class ConverseResponse(_Wire):
    output: ConverseOutputWire
    stopReason: Literal["end_turn", "max_tokens", "stop_sequence"]
    usage: TokenUsageWire
    metrics: ConverseMetricsWire


def _domain_turns(messages: list[MessageWire]) -> list[Message]:
    out = []
    for m in messages:
        text = "".join(b.text for b in m.content if b.text is not None)
        images = tuple(b.image.to_domain() for b in m.content if b.image is not None)
        out.append(Message(role=m.role, content=text, images=images))
    return out


def converse_to_domain(
    req: ConverseRequest, *, default_max_tokens: int
) -> tuple[list[Message], GenerationParams]:
    """Domain messages (system first) and decoding parameters of a Converse request."""
    system = "\n".join(b.text for b in req.system or [] if b.text)
    messages = ([Message(role="system", content=system)] if system else []) + _domain_turns(req.messages)
    cfg = req.inferenceConfig or InferenceConfigWire()
    text_format = req.outputConfig.textFormat if req.outputConfig else None
    params = GenerationParams(
        max_tokens=cfg.maxTokens or default_max_tokens,
        temperature=cfg.temperature if cfg.temperature is not None else 0.0,
        top_p=cfg.topP if cfg.topP is not None else 1.0,
        stop=tuple(cfg.stopSequences or ()),
        json_schema=text_format.structure.jsonSchema.parsed() if text_format else None,
    )
    return messages, params


def converse_response(completion: Completion, latency_ms: float) -> ConverseResponse:
    """The Converse answer for a completion (latency measured by the server, queueing included)."""
    return ConverseResponse(
        output=ConverseOutputWire(
            message=OutputMessageWire(content=[ContentBlockWire(text=completion.text)])
        ),
        stopReason=completion.stop_reason,
        usage=TokenUsageWire(
            inputTokens=completion.input_tokens,
            outputTokens=completion.output_tokens,
            totalTokens=completion.total_tokens,
        ),
        metrics=ConverseMetricsWire(latencyMs=int(round(latency_ms))),
    )


# ------------------------------------------------------------------------------ InvokeModel bodies
# InvokeModel's body is model-specific. Three common shapes are understood, told apart by their keys:
# Nova/"messages-v1" (Converse-like), Anthropic messages (``anthropic_version``) and Llama (``prompt``).


class NovaInferenceConfig(_Wire):
    """Nova reads both spellings: ``max_new_tokens``/``top_p``/``top_k`` and, as in its complete
    request schema (and AWS's batch inference recipes), ``maxTokens``/``topP``/``topK``."""

    max_new_tokens: int | None = Field(default=None, ge=1, le=32768)
    maxTokens: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    topP: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = None
    topK: int | None = None
    stopSequences: list[str] | None = None


class NovaInvokeRequest(_Wire):
    schemaVersion: Literal["messages-v1"] | None = None
    messages: list[MessageWire] = Field(min_length=1)
    system: list[SystemBlockWire] | None = None
    inferenceConfig: NovaInferenceConfig | None = None


class AnthropicTextBlock(_Wire):
    type: Literal["text"]
    text: str


class AnthropicMessage(_Wire):
    role: Literal["user", "assistant"]
    content: str | list[AnthropicTextBlock]

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(b.text for b in self.content)


class AnthropicInvokeRequest(_Wire):
    anthropic_version: str
    max_tokens: int = Field(ge=1, le=32768)
    messages: list[AnthropicMessage] = Field(min_length=1)
    system: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = None
    stop_sequences: list[str] | None = None


class LlamaInvokeRequest(_Wire):
    prompt: str = Field(min_length=1)
    max_gen_len: int | None = Field(default=None, ge=1, le=32768)
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)


InvokeRequest = NovaInvokeRequest | AnthropicInvokeRequest | LlamaInvokeRequest


def parse_invoke_body(body: dict[str, Any]) -> InvokeRequest:
    """Pick the body dialect by its keys and validate it strictly."""
    if "anthropic_version" in body:
        return AnthropicInvokeRequest.model_validate(body)
    if "prompt" in body:
        return LlamaInvokeRequest.model_validate(body)
    return NovaInvokeRequest.model_validate(body)


def invoke_to_domain(
    req: InvokeRequest, *, default_max_tokens: int
) -> tuple[list[Message], GenerationParams]:
    """Domain messages and parameters of any supported InvokeModel body."""
    if isinstance(req, NovaInvokeRequest):
        cfg = req.inferenceConfig or NovaInferenceConfig()
        conv = ConverseRequest(messages=req.messages, system=req.system)
        messages, _ = converse_to_domain(conv, default_max_tokens=default_max_tokens)
        max_tokens, temp, stop = cfg.max_new_tokens or cfg.maxTokens, cfg.temperature, cfg.stopSequences
        top_p = cfg.top_p if cfg.top_p is not None else cfg.topP
    elif isinstance(req, AnthropicInvokeRequest):
        messages = [Message(role="system", content=req.system)] if req.system else []
        messages += [Message(role=m.role, content=m.text) for m in req.messages]
        max_tokens, temp, top_p, stop = req.max_tokens, req.temperature, req.top_p, req.stop_sequences
    else:
        messages = [Message(role="user", content=req.prompt)]
        max_tokens, temp, top_p, stop = req.max_gen_len, req.temperature, req.top_p, None
    params = GenerationParams(
        max_tokens=max_tokens or default_max_tokens,
        temperature=temp if temp is not None else 0.0,
        top_p=top_p if top_p is not None else 1.0,
        stop=tuple(stop or ()),
    )
    return messages, params


def invoke_response(req: InvokeRequest, completion: Completion, model_id: str) -> dict[str, Any]:
    """The response body in the dialect of the request."""
    if isinstance(req, AnthropicInvokeRequest):
        return {
            "id": f"msg_{abs(hash((model_id, completion.text))) % 10**12:012d}",
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": completion.text}],
            "stop_reason": completion.stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens},
        }
    if isinstance(req, LlamaInvokeRequest):
        return {
            "generation": completion.text,
            "prompt_token_count": completion.input_tokens,
            "generation_token_count": completion.output_tokens,
            "stop_reason": "length" if completion.stop_reason == "max_tokens" else "stop",
        }
    usage = TokenUsageWire(
        inputTokens=completion.input_tokens,
        outputTokens=completion.output_tokens,
        totalTokens=completion.total_tokens,
    )
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": completion.text}]}},
        "stopReason": completion.stop_reason,
        "usage": usage.model_dump(),
    }


def parse_request_metadata_header(value: str | None) -> dict[str, str] | None:
    """``X-Amzn-Bedrock-Request-Metadata`` of InvokeModel: a JSON object of string pairs."""
    import json

    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError as exc:
        raise InvalidInputError("is not a JSON object", field="X-Amzn-Bedrock-Request-Metadata") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InvalidInputError("must map strings to strings", field="X-Amzn-Bedrock-Request-Metadata")
    try:
        return check_request_metadata(data)
    except ValueError as exc:
        raise InvalidInputError(str(exc), field="X-Amzn-Bedrock-Request-Metadata") from exc
