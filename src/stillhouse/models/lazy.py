"""A model loaded on its first request, so work whose answers are all cached never loads it."""

from __future__ import annotations

from collections.abc import Callable

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message


class LazyModel:
    """``name`` is what callers key caches on (a job's model id), so keys stay the same across
    restarts whether or not the model was loaded; ``load`` builds the real model once."""

    supports_json_schema = False

    def __init__(self, name: str, load: Callable[[], ChatModel]) -> None:
        self.name, self._load = name, load
        self._model: ChatModel | None = None

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        if self._model is None:
            self._model = self._load()
        return self._model.generate(messages, params)
