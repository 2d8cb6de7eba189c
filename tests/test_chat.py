"""Pure helpers over domain conversations."""

from __future__ import annotations

from stillhouse.chat import Message, last_user_text


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
