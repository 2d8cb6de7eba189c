"""A scripted model for tests: answers from a list, a function, or raises on cue. Never a teacher."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Iterable, Iterator

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message

Responder = Callable[[list[Message], GenerationParams], "str | Exception"]


class FakeModel(ChatModel):
    """Answers with ``responder(messages, params)`` (or the next item of a list, cycling).

    A responder may return an exception instance: it is raised, so tests can script timeouts,
    throttling and garbage. ``calls`` records every request for assertions. ``stream`` yields the
    same answer a word (with the whitespace after it) at a time.
    """

    supports_json_schema = False

    def __init__(self, responder: Responder | Iterable[str | Exception], *, name: str = "fake") -> None:
        self.name = name
        if callable(responder):
            self._respond = responder
        else:
            cycle = itertools.cycle(list(responder))
            self._respond = lambda messages, params: next(cycle)
        self.calls: list[tuple[list[Message], GenerationParams]] = []
        self._lock = threading.Lock()

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        with self._lock:
            self.calls.append((list(messages), params))
        answer = self._respond(list(messages), params)
        if isinstance(answer, Exception):
            raise answer
        prompt_words = sum(len(m.content.split()) for m in messages)
        return Completion(
            text=answer,
            model=self.name,
            input_tokens=prompt_words,
            output_tokens=len(answer.split()),
            latency_ms=0.0,
            stop_reason="end_turn",
        )

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        completion = self.generate(messages, params)
        yield from re.findall(r"\S+\s*|\s+", completion.text)
        yield completion
