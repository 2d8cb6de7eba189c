"""Synthesis: pure prompt rendering and list parsing, dedup by text and embedding, cache reuse."""

from __future__ import annotations

import pytest
from tests.teacher.helpers import MixTask, prompt_record

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, ThrottledError
from stillhouse.models.fake import FakeModel
from stillhouse.teacher.cache import RequestCache
from stillhouse.teacher.retry import RetryPolicy
from stillhouse.teacher.synthesize import (
    Deduper,
    normalise_text,
    parse_prompt_list,
    render_synthesis_prompt,
    run_synthesis,
    synthesize,
)


def test_prompt_shows_examples_and_count() -> None:
    messages = render_synthesis_prompt(["guitar solo", "sunset  over\nhills"], 7, task=MixTask())
    assert [m.role for m in messages] == ["system", "user"]
    assert "- guitar solo\n- sunset over hills" in messages[1].content
    assert "Write 7 new requests" in messages[1].content and MixTask.system_prompt in messages[1].content


def test_parser_reads_numbered_bulleted_and_json_lists() -> None:
    text = 'Here are your queries:\n1. "drone shot of a beach"\n2) cats purring\n- Bob\'s speech on taxes\n\n* 3 am traffic'
    assert parse_prompt_list(text) == [
        "drone shot of a beach",
        "cats purring",
        "Bob's speech on taxes",
        "3 am traffic",
    ]
    assert parse_prompt_list('```json\n["a b", "c"]\n```') == ["a b", "c"]
    assert parse_prompt_list("1. User: hi\n2. fine one") == ["fine one"]  # reserved markers are refused


def test_normalised_text_ignores_case_punctuation_spacing() -> None:
    assert normalise_text("  Guitar,  SOLO! ") == normalise_text("guitar solo")


def test_deduper_drops_exact_and_near_duplicates(embedder) -> None:
    dedupe = Deduper(embedder, threshold=0.9, existing=["guitar solo on stage"])
    kept = dedupe.add(
        ["Guitar solo on stage!", "guitar solo on stage.", "sunset over the sea", "sunset over the sea"]
    )
    assert kept == ["sunset over the sea"]
    assert dedupe.add(["a sunset over the sea"]) == []  # a near-duplicate by embedding (cosine 0.96)
    assert dedupe.add(["whales singing underwater"]) == ["whales singing underwater"]


def _lister(messages: list[Message], params: GenerationParams) -> str:
    # Every request proposes one repeat of a seed, one repeat of the previous request and new ones.
    base = params.seed or 0
    return "\n".join(
        ["1. guitar solo", *[f"{i + 2}. query number {base * 3 + i} about topic {base}" for i in range(3)]]
    )


def test_synthesize_returns_new_deduplicated_records(embedder) -> None:
    seeds = [
        prompt_record("guitar solo", system="Route it."),
        prompt_record("sunset over hills", system="Route it."),
    ]
    records = synthesize(seeds, FakeModel(_lister), 7, embedder=embedder)
    texts = [r.messages[0].text for r in records]
    assert len(texts) == 7 and len(set(texts)) == 7 and "guitar solo" not in texts
    assert all(r.system_text == "Route it." and not r.is_labelled for r in records)


def test_a_second_run_is_served_from_the_cache(tmp_path, embedder) -> None:
    teacher = FakeModel(_lister)
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = run_synthesis(["guitar solo"], teacher, 6, embedder=embedder, cache=cache, progress=False)
        calls = len(teacher.calls)
        second = run_synthesis(["guitar solo"], teacher, 6, embedder=embedder, cache=cache, progress=False)
    assert second.teacher_calls == 0 and second.from_cache == first.teacher_calls == calls
    assert [r.to_json() for r in first.records] == [r.to_json() for r in second.records]


def test_a_teacher_that_only_repeats_stops_within_budget(embedder) -> None:
    teacher = FakeModel(["1. guitar solo\n2. guitar solo!"])
    result = run_synthesis(["guitar solo"], teacher, 10, embedder=embedder, progress=False)
    assert result.records == [] and result.requests == 3 * 1 + 5 and result.duplicates > 0


def test_failed_requests_are_counted_not_fatal(embedder) -> None:
    teacher = FakeModel([ThrottledError("429"), ThrottledError("429"), "1. a brand new query"])
    result = run_synthesis(
        ["guitar solo"],
        teacher,
        1,
        embedder=embedder,
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda s: None,
        progress=False,
    )
    assert result.failed_requests == 1 and [r.messages[0].text for r in result.records] == [
        "a brand new query"
    ]


def test_the_15000_cap_is_enforced(embedder) -> None:
    with pytest.raises(InvalidInputError, match="15000"):
        synthesize(["a", "b"], FakeModel(["x"]), 14_999, embedder=embedder)
    with pytest.raises(InvalidInputError, match="seed prompt"):
        synthesize([], FakeModel(["x"]), 1, embedder=embedder)


def test_default_cache_lives_under_stillhouse_home(stillhouse_home, embedder) -> None:
    teacher = FakeModel(_lister)
    synthesize(["guitar solo"], teacher, 3, embedder=embedder)
    calls = len(teacher.calls)
    synthesize(["guitar solo"], teacher, 3, embedder=embedder)
    assert len(teacher.calls) == calls and (stillhouse_home / "cache" / "teacher.sqlite").exists()
