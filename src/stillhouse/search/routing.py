"""Routing a query: four modality weights from a model (the fast router by default) or fixed.

A :class:`ModelRouter` asks any ``ChatModel`` the video-router task's conversation, exactly as a
``Converse`` call would, and hands every call (answer or error) to a ``log`` callback with the
request metadata ``{"use_case": "video-search-router", "index": NAME}``. The edges pass a callback
that writes the runtime's invocation log, so a distillation job filtered on that metadata
re-distils the router on real search traffic. A :class:`RouteHeadRouter` (``route-head:SPEC``) logs
the same request with its weights as the answer. Router specs are resolved in
:func:`resolve_router` only.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stillhouse import paths
from stillhouse.chat import ChatModel, Completion, GenerationParams, Message
from stillhouse.errors import InvalidInputError, NotFoundError, StillhouseError
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

if TYPE_CHECKING:
    from collections.abc import Mapping

USE_CASE = "video-search-router"
ENV_ROUTER = "STILLHOUSE_SEARCH_ROUTER"
ROUTE_HEAD = "route-head"  # route-head:SPEC, the weights-only path of the student SPEC names
_MAX_TOKENS = 256
T = TypeVar("T")


@dataclass(frozen=True)
class QueryVector:
    """The query's embedding made while routing, and the identity of the encoder that made it
    (``models.embeddings.embedder_identity``): retrieval reuses it when the index has that encoder."""

    encoder: tuple[str, str, int]
    values: np.ndarray


class Routing(BaseModel):
    """What routing decided for one query."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    weights: dict[Modality, float]
    router: str
    reasoning: str | None = None
    fallback: str | None = None  # why the weights are not the router's own (unreadable answer)
    vector: QueryVector | None = Field(default=None, exclude=True, repr=False)


@runtime_checkable
class EmbeddingChatModel(Protocol):
    """A router model that embeds the query to route it (the fast router) and can hand the vector over."""

    encoder: tuple[str, str, int]

    def generate_embedded(
        self, messages: list[Message], params: GenerationParams
    ) -> tuple[Completion, np.ndarray]: ...


@dataclass(frozen=True)
class RouteCall:
    """One routing call as the invocation log needs it."""

    model_id: str
    metadata: dict[str, str]
    messages: list[Message]
    params: GenerationParams
    completion: Completion | None
    error: StillhouseError | None
    latency_ms: float


RouteLog = Callable[[RouteCall], None]


class Router(Protocol):
    name: str

    def route(self, query: str, *, index: str) -> Routing: ...


def route_metadata(index: str) -> dict[str, str]:
    return {"use_case": USE_CASE, "index": index}


def parse_weights(text: str) -> dict[Modality, float]:
    """``"V,A,T,M"`` -> weights normalised to sum to 1 (visual, audio, transcription, metadata)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidInputError(
            f"weights must be four numbers V,A,T,M, got {text!r}", field="weights"
        ) from exc
    if len(values) != len(MODALITIES) or any(v < 0 or v != v for v in values) or sum(values) <= 0:
        raise InvalidInputError(
            f"weights must be four non-negative numbers V,A,T,M with a positive sum, got {text!r}",
            field="weights",
        )
    return normalise_weights(dict(zip(MODALITIES, values, strict=True)))


def normalise_weights(weights: Mapping[Modality, float]) -> dict[Modality, float]:
    from stillhouse.tasks.video_router.weights import normalise

    return normalise(weights)


class FixedRouter:
    """The same weights for every query (``--weights``; the benchmark's oracle)."""

    name = "fixed"

    def __init__(self, weights: Mapping[Modality, float]) -> None:
        self.weights = normalise_weights(weights)

    def route(self, query: str, *, index: str) -> Routing:
        return Routing(weights=dict(self.weights), router=self.name)


def _routed_call(
    router: str,
    log: RouteLog | None,
    index: str,
    request: tuple[list[Message], GenerationParams],
    answer: Callable[[], tuple[Completion, T]],
) -> tuple[Completion, T]:
    """``answer()`` timed, and the call (its completion or its error) handed to ``log`` with the
    search's request metadata: the one way a router's call reaches the invocation log."""
    messages, params = request
    metadata, started = route_metadata(index), time.perf_counter()
    try:
        completion, extra = answer()
    except StillhouseError as exc:
        if log is not None:
            log(RouteCall(router, metadata, messages, params, None, exc, _ms(started)))
        raise
    if log is not None:
        log(RouteCall(router, metadata, messages, params, completion, None, _ms(started)))
    return completion, extra


def _task_request(query: str) -> tuple[list[Message], GenerationParams]:
    """The router task's conversation and parameters for ``query``, as a ``Converse`` call sends them."""
    from stillhouse.tasks.video_router import VideoRouterTask

    task = VideoRouterTask()
    params = GenerationParams(max_tokens=_MAX_TOKENS, temperature=0.0, json_schema=task.json_schema)
    return task.messages(query), params


class ModelRouter:
    """A ``ChatModel`` asked the router task; every call goes to ``log``."""

    def __init__(self, model: ChatModel, *, name: str | None = None, log: RouteLog | None = None) -> None:
        from stillhouse.tasks.video_router import VideoRouterTask

        self.model = model
        self.name = name or model.name
        self.log = log
        self._task = VideoRouterTask()

    def route(self, query: str, *, index: str) -> Routing:
        request = _task_request(query)
        completion, vector = _routed_call(self.name, self.log, index, request, lambda: self._answer(*request))
        return self._read(completion.text).model_copy(update={"vector": vector})

    def _answer(
        self, messages: list[Message], params: GenerationParams
    ) -> tuple[Completion, QueryVector | None]:
        if isinstance(self.model, EmbeddingChatModel):
            completion, values = self.model.generate_embedded(messages, params)
            return completion, QueryVector(self.model.encoder, values)
        return self.model.generate(messages, params), None

    def _read(self, text: str) -> Routing:
        from stillhouse.tasks.video_router.weights import weights_of

        value = self._task.lenient_value(text)
        if value is None:  # a search still answers; it says its weights are not the router's
            from stillhouse.search.fusion import UNIFORM

            return Routing(
                weights=dict(UNIFORM), router=self.name, fallback="router answer unreadable: uniform weights"
            )
        reasoning = str(value.get("reasoning") or "") or None
        return Routing(weights=normalise_weights(weights_of(value)), router=self.name, reasoning=reasoning)


class RouteHeadRouter:
    """A generative student's weights-only path (:mod:`stillhouse.tasks.video_router.route_head`):
    its route probabilities from one forward pass over the query, mixed over each route's median
    golden weights; no reasoning, and nothing decoded. ``model`` is a served router student whose
    backend scores its first choice (``StudentFormatModel.option_logprobs`` over llama.cpp).

    Each call is logged as :class:`ModelRouter` logs it (the task's request, the search's metadata),
    answered by the four weights as JSON with no reasoning: the fast router re-fits from that answer
    (``router.trainer.training_pairs`` reads the weights), but it breaks the task's contract (a
    non-empty reasoning), so it is no training answer for a generative student: a distillation job
    re-labels the logged prompt (``usePromptResponse`` false) or, keeping logged answers, only the
    teacher's own calls (``modelId`` is this router's name)."""

    def __init__(self, model: ChatModel, *, name: str | None = None, log: RouteLog | None = None) -> None:
        from stillhouse.tasks.video_router.golden import golden_route_prior

        self._scorer = _route_scorer(model)
        self.name, self.log = name or f"{model.name} (route head)", log
        self._prior = golden_route_prior()

    def route(self, query: str, *, index: str) -> Routing:
        request = _task_request(query)
        _, weights = _routed_call(self.name, self.log, index, request, lambda: self._answer(request[0]))
        return Routing(weights=weights, router=self.name)

    def _answer(self, messages: list[Message]) -> tuple[Completion, dict[Modality, float]]:
        from stillhouse.tasks.video_router.route_head import mixed_weights
        from stillhouse.tasks.video_router.weights import round_hundredths

        started = time.perf_counter()
        weights = mixed_weights(self._scorer(messages), self._prior)
        text = json.dumps(round_hundredths(weights), separators=(", ", ": "))
        # Nothing was decoded: no output tokens; llama.cpp's scoring call does not say its prompt's.
        return Completion(text=text, model=self.name, latency_ms=_ms(started)), weights


def _route_scorer(model: ChatModel) -> Callable[[list[Message]], Mapping[str, float]]:
    """``model``'s scorer of its route words, when it is a served router student whose backend can
    score its first choice; otherwise refused, before any query (a plain GGUF, a transformers-served
    student, a fast router, a remote model)."""
    from stillhouse.tasks.student_model import StudentFormatModel
    from stillhouse.tasks.video_router import VideoRouterTask

    if (
        not isinstance(model, StudentFormatModel)
        or model.task.name != VideoRouterTask.name
        or not callable(getattr(model.inner, "option_logprobs", None))
    ):
        raise InvalidInputError(
            f"{model.name} cannot score its route (not a video-router student served by llama.cpp): "
            f"{ROUTE_HEAD}:SPEC needs a published student, its folder or its model.gguf",
            field="router",
        )
    return model.option_logprobs


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def default_router_spec() -> str:
    """``$STILLHOUSE_SEARCH_ROUTER``, else a fast router at ``STILLHOUSE_HOME/models/fast-router``,
    else the demo's (``runs/demo/models/fast-router`` under the current folder)."""
    env = os.environ.get(ENV_ROUTER)
    if env:
        return env
    for candidate in (paths.models_dir() / "fast-router", Path("runs/demo/models/fast-router")):
        if candidate.is_dir():
            return str(candidate)
    raise NotFoundError(
        f"no fast router found (${ENV_ROUTER}, {paths.models_dir() / 'fast-router'} or runs/demo/models/fast-router): "
        "train one with `stillhouse demo`, or pass --router SPEC or --weights V,A,T,M",
        field="router",
    )


@dataclass(frozen=True)
class RouterSpec:
    """A router spec read: ``model`` (any model spec, asked the task by :class:`ModelRouter`) or
    ``route-head`` (``route-head:SPEC``: the weights-only path of the student ``SPEC`` names)."""

    kind: Literal["model", "route-head"]
    model: str


def parse_router_spec(spec: str) -> RouterSpec:
    """Read a router spec (pure): ``route-head:SPEC`` or a model spec, left to the model registry."""
    text = spec.strip()
    if not text:
        raise InvalidInputError("empty router spec", field="router")
    prefix, sep, rest = text.partition(":")
    if not sep or prefix != ROUTE_HEAD:
        return RouterSpec("model", text)
    model = rest.strip()
    if not model:
        raise InvalidInputError(
            f"router spec {text!r} names no model after '{ROUTE_HEAD}:', "
            f"e.g. {ROUTE_HEAD}:runs/demo/models/student",
            field="router",
        )
    if model.partition(":")[0] == ROUTE_HEAD:
        raise InvalidInputError(f"router spec {text!r}: a route head of a route head", field="router")
    return RouterSpec("route-head", model)


def resolve_router(spec: str | None, *, log: RouteLog | None = None) -> Router:
    """THE place a router spec becomes a router (its model through the model registry, which knows
    fast-router folders and every other spec form); every call it makes goes to ``log``."""
    from stillhouse.models import load_model

    text = spec or default_router_spec()
    parsed = parse_router_spec(text)
    if parsed.kind == "route-head":
        return RouteHeadRouter(load_model(parsed.model), name=text.strip(), log=log)
    return ModelRouter(load_model(parsed.model), log=log)
