"""Pure helpers over domain conversations."""

from __future__ import annotations

import pytest

from stillhouse.chat import (
    Completion,
    GenerationParams,
    Message,
    StreamingChatModel,
    collect_stream,
    last_user_text,
    stream_chat,
)
from stillhouse.models.fake import FakeModel


def _m(role: str, content: str) -> Message:
    return Message(role=role, content=content)  # type: ignore[arg-type]


def test_last_user_text_is_the_latest_user_turn_not_the_last_turn():
    messages = [_m("system", "Route."), _m("user", "first"), _m("assistant", "a"), _m("user", "second")]
    assert last_user_text(messages) == "second"
    assert last_user_text([*messages, _m("assistant", "prefill")]) == "second"


def test_last_user_text_is_none_without_a_user_turn():
    assert last_user_text([]) is None
    assert last_user_text([_m("system", "Route."), _m("assistant", "hi")]) is None


def test_an_empty_user_turn_is_text_not_absence():
    assert last_user_text([_m("user", "")]) == ""


class _WholeOnly:
    """A ChatModel with no ``stream``: the generic fallback streams its answer as one delta."""

    name = "whole"
    supports_json_schema = False

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return Completion(text="all at once", model=self.name, output_tokens=3)


def test_stream_chat_falls_back_to_one_delta():
    items = list(stream_chat(_WholeOnly(), [_m("user", "hi")], GenerationParams()))
    assert items[0] == "all at once" and isinstance(items[1], Completion) and len(items) == 2
    assert not isinstance(_WholeOnly(), StreamingChatModel)


def test_fake_model_streams_word_by_word_and_adds_up():
    model = FakeModel(["the cat  sat\n"])
    assert isinstance(model, StreamingChatModel)
    items = list(stream_chat(model, [_m("user", "hi")], GenerationParams()))
    assert items[:-1] == ["the ", "cat  ", "sat\n"]
    assert collect_stream(iter(items)).text == "the cat  sat\n"


def test_collect_stream_refuses_a_stream_that_does_not_add_up():
    done = Completion(text="ab", model="m")
    with pytest.raises(ValueError, match="do not add up"):
        collect_stream(iter(["a", "c", done]))
    with pytest.raises(ValueError, match="without its completion"):
        collect_stream(iter(["a"]))
