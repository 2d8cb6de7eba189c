"""Routing a query: four modality weights from a model (the fast router by default) or fixed.

A :class:`ModelRouter` asks any ``ChatModel`` the video-router task's conversation, exactly as a
``Converse`` call would, and hands every call (answer or error) to a ``log`` callback with the
request metadata ``{"use_case": "video-search-router", "index": NAME}``. The edges pass a callback
that writes the runtime's invocation log, so a distillation job filtered on that metadata
re-distils the router on real search traffic. Router specs are resolved in :func:`resolve_router`
only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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
_MAX_TOKENS = 256


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


class ModelRouter:
    """A ``ChatModel`` asked the router task; every call goes to ``log``."""

    def __init__(self, model: ChatModel, *, name: str | None = None, log: RouteLog | None = None) -> None:
        from stillhouse.tasks.video_router import VideoRouterTask

        self.model = model
        self.name = name or model.name
        self.log = log
        self._task = VideoRouterTask()
        self._params = GenerationParams(
            max_tokens=_MAX_TOKENS, temperature=0.0, json_schema=self._task.json_schema
        )

    def route(self, query: str, *, index: str) -> Routing:
        messages = self._task.messages(query)
        metadata = route_metadata(index)
        started = time.perf_counter()
        vector = None
        try:
            if isinstance(self.model, EmbeddingChatModel):
                completion, values = self.model.generate_embedded(messages, self._params)
                vector = QueryVector(self.model.encoder, values)
            else:
                completion = self.model.generate(messages, self._params)
        except StillhouseError as exc:
            self._log(RouteCall(self.name, metadata, messages, self._params, None, exc, _ms(started)))
            raise
        self._log(RouteCall(self.name, metadata, messages, self._params, completion, None, _ms(started)))
        return self._read(completion.text).model_copy(update={"vector": vector})

    def _log(self, call: RouteCall) -> None:
        if self.log is not None:
            self.log(call)

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
    its route probabilities from one forward pass over the query, mixed over each route's mean
    golden weights; no reasoning, and nothing decoded. ``model`` is a served student that scores
    its first choice (``StudentFormatModel.option_logprobs``). Not logged: it writes no answer a
    distillation job could learn from."""

    def __init__(self, model: ChatModel, *, name: str | None = None) -> None:
        from stillhouse.tasks.video_router import VideoRouterTask
        from stillhouse.tasks.video_router.golden import load_golden
        from stillhouse.tasks.video_router.route_head import route_prior

        scorer = getattr(model, "option_logprobs", None)
        if scorer is None:
            raise InvalidInputError(
                f"{model.name} cannot score its route (not a served student)", field="router"
            )
        self._scorer, self.name = scorer, name or f"{model.name} (route head)"
        self._task, self._prior = VideoRouterTask(), route_prior(load_golden())

    def route(self, query: str, *, index: str) -> Routing:
        from stillhouse.tasks.video_router.route_head import mixed_weights

        weights = mixed_weights(self._scorer(self._task.messages(query)), self._prior)
        return Routing(weights=weights, router=self.name)


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


def resolve_router(spec: str | None) -> ChatModel:
    """THE place a router spec becomes a model (through the model registry, which knows fast-router
    folders and every other spec form)."""
    from stillhouse.models import load_model

    return load_model(spec or default_router_spec())
