"""Things loaded on their first use, exactly once however many threads ask: :class:`Loaded` is THE
mechanism, :class:`LazyModel` a chat model built on it (work whose answers are all cached never
loads it)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

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

T = TypeVar("T")


class Loaded(Generic[T]):
    """``load()``'s result, built on the first :meth:`get` and kept. An executor's threads share
    one teacher, so first use takes a lock: threads arriving together wait for the one load
    rather than each paying for (and holding the memory of) a model of their own. A failed load is
    not kept: the next :meth:`get` tries again. Pickles unloaded, so a remote worker loads its own."""

    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:  # another thread may have loaded it while this one waited
                    self._value = self._load()
                value = self._value
        return value

    def __getstate__(self) -> dict[str, Any]:
        return {"load": self._load}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["load"])  # type: ignore[misc]


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
    # A request the loaded model cannot serve fails the run with these words and this field; a
    # caller whose users asked for it otherwise (a job's hyperparameters) names its own.
    cannot_distribute = "return token log-probabilities"
    cannot_score = "score a given answer"
    refused_field = "top_logprobs"

    def __init__(self, name: str, load: Callable[[], ChatModel]) -> None:
        self.name, self._model = name, Loaded(load)

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return self._loaded().generate(messages, params)

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        """The loaded model's answer with its top-k distributions; a model that cannot give them
        fails the run once (as a model that cannot load does), not each request."""
        model = self._loaded_as(DistributionChatModel, self.cannot_distribute)
        return model.generate_with_distribution(messages, params, top_k)

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        """The loaded model's scores of a given answer; a model that cannot score fails the run
        once, as above."""
        model = self._loaded_as(ScoringChatModel, self.cannot_score)
        return model.score_answer(messages, answer, top_k)

    def _loaded_as(self, kind: type[M], what: str) -> M:
        model = self._loaded()
        if not isinstance(model, kind):
            cause = InvalidInputError(f"teacher {self.name!r} cannot {what}", field=self.refused_field)
            raise ModelUnavailable(self.name, cause)
        return model

    def _loaded(self) -> ChatModel:
        try:
            return self._model.get()
        except StillhouseError as exc:
            raise ModelUnavailable(self.name, exc) from exc


def lazy_model(spec: str) -> LazyModel:
    """The model ``spec`` names, loaded on its first request wherever that is asked (it pickles
    unloaded, so a remote worker loads its own); named like the loaded model (the spec as written)."""
    from stillhouse.models.registry import load_model

    return LazyModel(spec.strip(), functools.partial(load_model, spec))
