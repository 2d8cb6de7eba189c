"""The Ray tests' teacher: the tiny random Llama behind ``hf:DIR``, loaded where it is sent (a
LazyModel, as on a cluster), counting every call it really answers in a file all processes append to."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import tiny_llama

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message

WORDS = ["the", "a", "cat", "dog", "sea", "sun", "video", "audio", "visual", "music", "guitar", "solo"]
WORDS += ["speech", "text", "hello", "world", "route", "query", "red", "car"]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def save_word_llama(folder: Path) -> Path:
    """A 2-layer random Llama with a word-level tokenizer over :data:`WORDS` and a chat template."""
    return tiny_llama.save_word_llama(folder, WORDS, TEMPLATE)


def prompts(n: int) -> list[str]:
    """``n`` distinct prompts of vocabulary words."""
    return [f"{a} {b} {c}" for a in WORDS for b in WORDS for c in ("video", "music")][:n]


@dataclass(frozen=True)
class CountingLoad:
    """Picklable loader: the model ``spec`` names, each call it answers a line in ``log``."""

    spec: str
    log: Path
    delay: float = 0.0

    def __call__(self) -> ChatModel:
        from stillhouse.models import load_model

        return _Counting(load_model(self.spec), self.log, self.delay)


class _Counting:
    def __init__(self, model: ChatModel, log: Path, delay: float) -> None:
        self.model, self.log, self.delay = model, log, delay
        self.name, self.supports_json_schema = model.name, model.supports_json_schema

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        time.sleep(self.delay)
        completion = self.model.generate(messages, params)
        line = (messages[-1].content.replace("\n", " ") + "\n").encode()
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return completion


def echo_or_die(_worker: object, item: str) -> str:
    """A remote call (importable by the workers, unlike a test module's functions): the item, or
    for ``"die"`` the end of the actor's process, as on a lost node."""
    if item == "die":
        os._exit(1)
    return item


def die_once(marker: Path, remote: Callable[[Any, Any], Any], worker: Any, item: Any) -> Any:
    """``remote(worker, item)``, except that the first call of all (across actors) ends its actor's
    process first, as a lost node does: that item must be sent again to a fresh actor."""
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return remote(worker, item)
    os.close(fd)
    os._exit(1)
