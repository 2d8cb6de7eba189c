"""A model loaded on its first request, so work whose answers are all cached never loads it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from stillhouse.chat import (
    ChatModel,
    Completion,
    DistributionChatModel,
    GenerationParams,
    Message,
    ScoringChatModel,
    TokenDistribution,
)
from stillhouse.errors import InvalidInputError, StillhouseError


class ModelUnavailable(Exception):
    """The model could not be loaded. Deliberately not a StillhouseError: callers record those per
    request, whereas a model that cannot load must fail the whole run once, not every request."""

    def __init__(self, name: str, cause: StillhouseError) -> None:
        super().__init__(f"model {name!r} could not be loaded: {cause}")
        self.cause = cause


def load_failure(exc: ModelUnavailable) -> StillhouseError:
    """The typed error behind ``exc``, also when it came back from a remote worker (Ray's copy of an
    exception names the original as its own ``cause``)."""
    cause: object = exc.cause
    while isinstance(cause, ModelUnavailable):
        cause = cause.cause
    assert isinstance(cause, StillhouseError)
    return cause


M = TypeVar("M", bound=ChatModel)


class LazyModel:
    """``name`` is what callers key caches on (a job's model id), so keys stay the same across
    restarts whether or not the model was loaded; ``load`` builds the real model once (its
    failure is a :class:`ModelUnavailable`)."""

    supports_json_schema = False

    def __init__(self, name: str, load: Callable[[], ChatModel]) -> None:
        self.name, self._load = name, load
        self._model: ChatModel | None = None

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return self._loaded().generate(messages, params)

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        """The loaded model's answer with its top-k distributions; a model that cannot give them
        fails the run once (as a model that cannot load does), not each request."""
        model = self._loaded_as(DistributionChatModel, "return token log-probabilities")
        return model.generate_with_distribution(messages, params, top_k)

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        """The loaded model's scores of a given answer; a model that cannot score fails the run
        once, as above."""
        model = self._loaded_as(ScoringChatModel, "score a given answer")
        return model.score_answer(messages, answer, top_k)

    def _loaded_as(self, kind: type[M], what: str) -> M:
        model = self._loaded()
        if not isinstance(model, kind):
            cause = InvalidInputError(f"teacher {self.name!r} cannot {what}", field="top_logprobs")
            raise ModelUnavailable(self.name, cause)
        return model

    def _loaded(self) -> ChatModel:
        if self._model is None:
            try:
                self._model = self._load()
            except StillhouseError as exc:
                raise ModelUnavailable(self.name, exc) from exc
        return self._model


def lazy_model(spec: str) -> LazyModel:
    """The model ``spec`` names, loaded on its first request wherever that is asked (it pickles
    unloaded, so a remote worker loads its own); named like the loaded model (the spec as written)."""
    from stillhouse.models.registry import load_model

    return LazyModel(spec.strip(), functools.partial(load_model, spec))
