"""Shared fixtures: an isolated STILLHOUSE_HOME and a known-bad dataset used by several test folders."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

# Before any test imports torch: idle OpenMP threads sleep rather than spin (see train/loop.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SCHEMA = "bedrock-conversation-2024"


@pytest.fixture(autouse=True)
def _leaves_transformers_tie_weights_in_place():
    """Fails the test after which ``PreTrainedModel.tie_weights`` is not transformers' own: two
    ``from_pretrained`` calls on two threads can leave its load-time no-op on the class, and every
    later load in the process then keeps tied weights untied (stillhouse.models.hf_loading). Checked
    under the load lock, so a load still running on a fixture's thread is waited for, not blamed."""
    yield
    modeling_utils = sys.modules.get("transformers.modeling_utils")
    if modeling_utils is None:
        return
    from stillhouse.models.hf_loading import one_load_at_a_time

    with one_load_at_a_time():
        tie = modeling_utils.PreTrainedModel.__dict__.get("tie_weights")
    assert getattr(tie, "__qualname__", None) == "PreTrainedModel.tie_weights", (
        f"this test left PreTrainedModel.tie_weights as {tie!r}: a transformers load ran outside "
        "stillhouse.models.hf_loading.one_load_at_a_time on another thread"
    )


def prompt_record(text: str, *, system: str | None = None, answer: str | None = None) -> dict:
    """A bedrock-conversation-2024 record as a dict: a prompt, optionally labelled."""
    record: dict = {"schemaVersion": SCHEMA, "messages": [{"role": "user", "content": [{"text": text}]}]}
    if system is not None:
        record["system"] = [{"text": system}]
    if answer is not None:
        record["messages"].append({"role": "assistant", "content": [{"text": answer}]})
    return record


def _user(*content: dict) -> dict:
    return {"role": "user", "content": list(content)}


# The six bad lines of the mixed dataset: JSONL text, then (field, words expected in the reason).
BAD_LINES: list[tuple[str, str, str]] = [
    ('{"schemaVersion": "bedrock-conversation-2024", "messages": [', "record", "invalid JSON"),
    (
        json.dumps({"schemaVersion": SCHEMA, "messages": [{"role": "bot", "content": [{"text": "hi"}]}]}),
        "messages[0].role",
        "'bot'",
    ),
    (
        json.dumps(prompt_record("User: show me goals")),
        "messages[0].content[0].text",
        "reserved string 'User:'",
    ),
    (json.dumps(prompt_record("")), "messages[0].content[0].text", "empty"),
    (
        json.dumps(
            {
                "schemaVersion": SCHEMA,
                "messages": [
                    _user({"text": "describe"}),
                    {
                        "role": "assistant",
                        "content": [
                            {"text": "ok"},
                            {"image": {"format": "png", "source": {"bytes": "aGk="}}},
                        ],
                    },
                ],
            }
        ),
        "messages[1].content[1].image",
        "only allowed in user turns",
    ),
    (
        json.dumps(
            {
                "schemaVersion": SCHEMA,
                "messages": [
                    _user(
                        {"text": "find this"},
                        {
                            "image": {
                                "format": "jpeg",
                                "source": {"s3Location": {"uri": "s3://bucket/my photo.jpg"}},
                            }
                        },
                    ),
                ],
            }
        ),
        "messages[0].content[1].image.source.s3Location.uri",
        "' '",
    ),
]
BAD_LINE_NUMBERS = [3, 17, 40, 77, 100, 126]


@pytest.fixture
def mixed_dataset(tmp_path: Path) -> Path:
    """126 lines: 120 valid prompt records and the six :data:`BAD_LINES` at :data:`BAD_LINE_NUMBERS`."""
    good = iter(json.dumps(prompt_record(f"videos of a dog playing fetch, take {i}")) for i in range(120))
    bad = dict(zip(BAD_LINE_NUMBERS, (text for text, _, _ in BAD_LINES), strict=True))
    lines = [bad[n] if n in bad else next(good) for n in range(1, 127)]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def mixed_dataset_expected() -> list[tuple[int, str, str]]:
    """``(line, field, words in the reason)`` for each bad line of :func:`mixed_dataset`."""
    return [(n, field, words) for n, (_, field, words) in zip(BAD_LINE_NUMBERS, BAD_LINES, strict=True)]


@pytest.fixture
def make_record():
    """:func:`prompt_record`, for tests in other folders (conftest is not importable everywhere)."""
    return prompt_record


@pytest.fixture
def stillhouse_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private STILLHOUSE_HOME (object store, caches) for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("STILLHOUSE_HOME", str(home))
    monkeypatch.delenv("STILLHOUSE_S3_ROOT", raising=False)
    monkeypatch.delenv("STILLHOUSE_S3_BACKEND", raising=False)
    return home
