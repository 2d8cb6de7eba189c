"""Held-out router records and scripted models shared by the evaluation tests."""

from __future__ import annotations

import json

import pytest

from stillhouse.models.fake import FakeModel
from stillhouse.records.schema import ConversationRecord

# (query, reference weights): dominant modalities differ so dominant accuracy is informative.
HELDOUT = [
    ("sunset over snowy mountains", {"visual": 0.8, "audio": 0.0, "transcription": 0.0, "metadata": 0.2}),
    ("guitar solo with crowd cheering", {"visual": 0.1, "audio": 0.7, "transcription": 0.1, "metadata": 0.1}),
    (
        "CEO talks about quarterly earnings",
        {"visual": 0.2, "audio": 0.1, "transcription": 0.6, "metadata": 0.1},
    ),
    ("videos uploaded by NASA in 2019", {"visual": 0.1, "audio": 0.0, "transcription": 0.1, "metadata": 0.8}),
]


def reference_text(weights: dict[str, float], query: str) -> str:
    return json.dumps({**weights, "reasoning": f"The query '{query}' is mostly about its top modality."})


def record(query: str, answer: str | None, *, system: bool = True) -> ConversationRecord:
    data: dict = {"messages": [{"role": "user", "content": [{"text": query}]}]}
    if system:
        data["system"] = [{"text": "Route the query."}]
    if answer is not None:
        data["messages"].append({"role": "assistant", "content": [{"text": answer}]})
    return ConversationRecord.model_validate(data)


@pytest.fixture
def heldout_records() -> list[ConversationRecord]:
    return [record(q, reference_text(w, q)) for q, w in HELDOUT]


@pytest.fixture
def perfect_model() -> FakeModel:
    """Answers every held-out query with its reference answer."""
    answers = {q: reference_text(w, q) for q, w in HELDOUT}
    return FakeModel(lambda messages, params: answers[messages[-1].content], name="perfect")


@pytest.fixture
def broken_model() -> FakeModel:
    """A base model that ignores the format: prose, no JSON, no weights."""
    return FakeModel(["Sure! Here are some great videos you might enjoy watching today."], name="broken")
