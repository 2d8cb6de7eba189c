"""A model loaded on its first request, so work whose answers are all cached never loads it."""

from __future__ import annotations

import functools
from collections.abc import Callable

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message
from stillhouse.errors import StillhouseError


class ModelUnavailable(Exception):
    """The model could not be loaded. Deliberately not a StillhouseError: callers record those per
    request, whereas a model that cannot load must fail the whole run once, not every request."""

    def __init__(self, name: str, cause: StillhouseError) -> None:
        super().__init__(f"model {name!r} could not be loaded: {cause}")
        self.cause = cause


class LazyModel:
    """``name`` is what callers key caches on (a job's model id), so keys stay the same across
    restarts whether or not the model was loaded; ``load`` builds the real model once (its
    failure is a :class:`ModelUnavailable`)."""

    supports_json_schema = False

    def __init__(self, name: str, load: Callable[[], ChatModel]) -> None:
        self.name, self._load = name, load
        self._model: ChatModel | None = None

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        if self._model is None:
            try:
                self._model = self._load()
            except StillhouseError as exc:
                raise ModelUnavailable(self.name, exc) from exc
        return self._model.generate(messages, params)


def lazy_model(spec: str) -> LazyModel:
    """The model ``spec`` names, loaded on its first request wherever that is asked (it pickles
    unloaded, so a remote worker loads its own); named like the loaded model (the spec as written)."""
    from stillhouse.models.registry import load_model

    return LazyModel(spec.strip(), functools.partial(load_model, spec))
