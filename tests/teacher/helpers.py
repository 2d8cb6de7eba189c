"""Helpers for the teacher tests: a tiny two-field task, router-style prompts, a fake teacher."""

from __future__ import annotations

import json
from typing import Any

from stillhouse.chat import GenerationParams, Message
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.base import ParseResult, Task

ROUTER_QUERIES = [
    "sunset over snowy mountains",
    "guitar solo in a rainy street",
    "CEO talks about layoffs",
    "videos uploaded by NASA in 2019",
    "dog barking at the mailman",
    "someone says 'never gonna give you up'",
    "cooking pasta with garlic",
    "crowd cheering after a goal",
    "interview with Marie Curie biographer",
    "drone shot of a coastline",
    "podcast about climate policy",
    "birds singing at dawn",
    "news clips from March 2021",
    "a lecture explaining quantum tunnelling",
    "red sports car drifting",
    "piano music in a quiet cafe",
    "speech where the president mentions inflation",
    "travel vlog by Anna in Tokyo",
    "thunderstorm with heavy rain sounds",
    "cats playing with yarn",
]


class MixTask(Task):
    """A two-weight toy task: {"a", "b", "reasoning"}, weights in [0, 1] summing to 1."""

    name = "mix"
    system_prompt = "Split the query between a and b."
    json_schema = {"type": "object", "required": ["a", "b", "reasoning"]}

    def parse(self, text: str, *, normalize: bool = False) -> ParseResult:
        try:
            obj = json.loads(text)
            a, b, why = float(obj["a"]), float(obj["b"]), str(obj["reasoning"])
        except (ValueError, KeyError, TypeError):
            return ParseResult(errors=["not_json"])
        errors = [] if abs(a + b - 1) <= 0.01 else ["sum_not_1"]
        errors += [] if why.strip() else ["empty_reasoning"]
        if normalize and a + b > 0:
            return ParseResult(value={"a": a / (a + b), "b": b / (a + b), "reasoning": why}, errors=errors)
        return ParseResult(value=None if errors else {"a": a, "b": b, "reasoning": why}, errors=errors)

    def lenient_value(self, text: str) -> dict[str, Any] | None:
        return self.parse(text, normalize=True).value

    def render(self, value: dict[str, Any]) -> str:
        return json.dumps(
            {"a": round(value["a"], 2), "b": round(value["b"], 2), "reasoning": value["reasoning"]}
        )

    def combine(self, values: list[dict[str, Any]]) -> dict[str, Any]:
        a = sum(v["a"] for v in values) / len(values)
        b = sum(v["b"] for v in values) / len(values)
        closest = min(values, key=lambda v: abs(v["a"] - a))
        return {"a": a / (a + b), "b": b / (a + b), "reasoning": closest["reasoning"]}


def mix_answer(a: float, reasoning: str = "because") -> str:
    return json.dumps({"a": a, "b": round(1 - a, 4), "reasoning": reasoning})


def last_user(messages: list[Message]) -> str:
    return [m.content for m in messages if m.role == "user"][-1]


def router_responder(messages: list[Message], params: GenerationParams) -> str:
    """A deterministic 'teacher': the weight depends on the query, so answers are distinguishable."""
    query = last_user(messages)
    return mix_answer(round((len(query) % 10) / 10, 1), f"about {query}")


def prompt_record(query: str, system: str | None = None) -> ConversationRecord:
    data: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": query}]}]}
    if system:
        data["system"] = [{"text": system}]
    return ConversationRecord.model_validate(data)


def labelled_record(query: str, answer: str) -> ConversationRecord:
    return ConversationRecord.model_validate(
        {
            "messages": [
                {"role": "user", "content": [{"text": query}]},
                {"role": "assistant", "content": [{"text": answer}]},
            ]
        }
    )


def read_jsonl(path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
