"""The domain model of a conversation and the one narrow model interface every backend implements.

Wire formats (bedrock-conversation-2024 records, Bedrock Converse, OpenAI chat) are converted to and
from these types at the edges; the core only ever sees :class:`Message`, :class:`GenerationParams`
and :class:`Completion`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant"]
StopReason = Literal["end_turn", "max_tokens", "stop_sequence"]
ImageFormat = Literal["png", "jpeg", "gif", "webp"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Image(_Frozen):
    """An image inside a user turn: raw bytes, already fetched from wherever the record pointed."""

    format: ImageFormat
    data: bytes


class Message(_Frozen):
    """One turn of a conversation. ``system`` turns come first when present."""

    role: Role
    content: str
    images: tuple[Image, ...] = ()


class GenerationParams(_Frozen):
    """Decoding parameters. ``json_schema`` asks a backend to constrain its output where it can."""

    max_tokens: int = Field(default=512, ge=1, le=32768)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    seed: int | None = None


class Completion(_Frozen):
    """What a model answered, with the accounting every caller needs."""

    text: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    stop_reason: StopReason = "end_turn"

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class TokenDistribution(_Frozen):
    """A model's top-k next-token log-probabilities at each token of an answer it wrote (what
    logit-level distillation trains on). Position ``i`` predicted the token ``ids[i]`` that starts at
    character ``offsets[i]`` of ``text``; ``top_ids[i]``/``top_logprobs[i]`` are its k best, best
    first, log-probabilities rounded to :data:`LOGPROB_DECIMALS` (about float16's precision: more
    digits would only make the stored distributions bigger)."""

    text: str
    offsets: tuple[int, ...]
    ids: tuple[int, ...]
    top_ids: tuple[tuple[int, ...], ...]
    top_logprobs: tuple[tuple[float, ...], ...]


LOGPROB_DECIMALS = 3


@runtime_checkable
class ChatModel(Protocol):
    """The one model interface: llama.cpp, transformers, OpenAI HTTP, Bedrock and the fake all fit it.

    ``name`` identifies the model in caches and logs; ``supports_json_schema`` says whether
    ``params.json_schema`` is enforced during decoding (otherwise callers validate and retry).
    """

    name: str
    supports_json_schema: bool

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion: ...


@runtime_checkable
class StreamingChatModel(ChatModel, Protocol):
    """A :class:`ChatModel` that can also hand out its answer as it is written (an optional extra).

    ``stream`` yields text deltas (``str``) and, last, the :class:`Completion` whose ``text`` is
    their concatenation and which carries the accounting. Greedy streaming writes exactly what
    ``generate`` writes. Closing the iterator early (a client gone) stops the generation.
    """

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]: ...


@runtime_checkable
class DistributionChatModel(ChatModel, Protocol):
    """A :class:`ChatModel` that can also say, for each token of its answer, its ``top_k`` most
    likely tokens with their log-probabilities (an optional extra, like streaming)."""

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]: ...


@runtime_checkable
class ScoringChatModel(ChatModel, Protocol):
    """A :class:`ChatModel` that can also score an answer it is given (teacher forcing: one forward
    pass over the conversation and ``answer``), returning its ``top_k`` most likely tokens at each
    of the answer's tokens. What a student distils when its answers are not the teacher's own text
    (a task's student format rewrote them). For an answer the model wrote greedily, the result is
    the distribution it produced while writing it."""

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution: ...


def stream_chat(
    model: ChatModel, messages: list[Message], params: GenerationParams
) -> Iterator[str | Completion]:
    """THE way to stream any model: its own ``stream`` when it has one, else its whole answer as
    one delta (honest for backends and wrappers that only know the answer once it is complete)."""
    if isinstance(model, StreamingChatModel):
        yield from model.stream(messages, params)
        return
    completion = model.generate(messages, params)
    if completion.text:
        yield completion.text
    yield completion


def collect_stream(items: Iterator[str | Completion]) -> Completion:
    """The final Completion of a stream, checked against its deltas (a backend bug otherwise)."""
    parts: list[str] = []
    for item in items:
        if isinstance(item, Completion):
            if item.text != "".join(parts):
                raise ValueError("a stream's deltas do not add up to its completion")
            return item
        parts.append(item)
    raise ValueError("a stream ended without its completion")


def system_text(messages: list[Message]) -> str:
    """The system prompt of a conversation ('' when there is none)."""
    return "\n".join(m.content for m in messages if m.role == "system")


def without_system(messages: list[Message]) -> list[Message]:
    """The user/assistant turns of a conversation, in order."""
    return [m for m in messages if m.role != "system"]


def last_user_text(messages: Sequence[Message]) -> str | None:
    """The text of the conversation's last user turn (what a router routes, a retriever looks up),
    or ``None`` when it has no user turn."""
    return next((m.content for m in reversed(messages) if m.role == "user"), None)
