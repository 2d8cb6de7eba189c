"""The query synthesizer: balance, dedup, determinism, edge cases, scale, records."""

from __future__ import annotations

from collections import Counter

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import check_line, get_profile
from stillhouse.tasks.video_router import synth
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT
from stillhouse.tasks.video_router.synth import (
    SynthConfig,
    iter_synthesize,
    normalise_text,
    synthesize,
    to_records,
)
from stillhouse.tasks.video_router.weights import INTENTS


@pytest.fixture(scope="module")
def ten_thousand() -> list:
    return synthesize(SynthConfig(n=10_000, seed=0))


def test_ten_thousand_distinct_queries(ten_thousand: list) -> None:
    keys = [normalise_text(q.text) for q in ten_thousand]
    assert len(ten_thousand) == 10_000 and len(set(keys)) == 10_000


def test_balanced_by_intent(ten_thousand: list) -> None:
    assert Counter(q.intent for q in ten_thousand) == {intent: 2_000 for intent in INTENTS}
    odd = synthesize(SynthConfig(n=13, seed=1))
    counts = Counter(q.intent for q in odd)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_difficulties_and_edge_cases_all_occur(ten_thousand: list) -> None:
    assert set(Counter(q.difficulty for q in ten_thousand)) == {"easy", "medium", "hard"}
    edges = Counter(q.edge_case for q in ten_thousand)
    assert set(edges) == {None, "typo", "short", "long", "non_english"}
    assert 0.2 < 1 - edges[None] / len(ten_thousand) < 0.4  # edge_rate 0.3, minus short-list dedup
    assert any(len(q.text.split()) >= 25 for q in ten_thousand if q.edge_case == "long")
    assert any(not q.text.isascii() for q in ten_thousand if q.edge_case == "non_english")
    assert any("'" in q.text for q in ten_thousand if q.intent == "transcription")


def test_same_seed_same_queries_other_seed_other_queries() -> None:
    first = synthesize(SynthConfig(n=500, seed=42))
    assert first == synthesize(SynthConfig(n=500, seed=42))
    assert [q.text for q in first] != [q.text for q in synthesize(SynthConfig(n=500, seed=43))]


def test_exclude_keeps_held_out_queries_out() -> None:
    first = synthesize(SynthConfig(n=200, seed=5))
    banned = [q.text.upper() + "!" for q in first[:50]]  # normalisation ignores case and punctuation
    again = synthesize(SynthConfig(n=200, seed=5), exclude=banned)
    assert not {normalise_text(q.text) for q in again} & {normalise_text(t) for t in banned}


def test_no_edge_cases_when_rate_is_zero() -> None:
    assert all(q.edge_case is None for q in synthesize(SynthConfig(n=300, seed=2, edge_rate=0.0)))


@pytest.mark.parametrize(
    "config",
    [SynthConfig(n=0), SynthConfig(n=10, edge_rate=1.5), SynthConfig(n=10, intents=("visual", "smell"))],
)
def test_bad_configs_are_refused(config: SynthConfig) -> None:
    with pytest.raises(InvalidInputError):
        synthesize(config)


def test_bad_configs_are_refused_before_the_first_query_is_drawn() -> None:
    with pytest.raises(InvalidInputError):
        iter_synthesize(SynthConfig(n=0))  # no next(): the check is not deferred to iteration


def test_one_at_a_time_gives_the_same_queries() -> None:
    banned = ["a red car"]
    assert list(iter_synthesize(SynthConfig(n=40, seed=9), exclude=banned)) == synthesize(
        SynthConfig(n=40, seed=9), exclude=banned
    )


def test_the_synthesizer_imports_no_progress_display() -> None:
    """The task contract is pure: a progress bar (rich, stderr) is the caller's choice at the edge."""
    import subprocess
    import sys

    code = "import sys, stillhouse.tasks.video_router.synth; assert 'rich' not in sys.modules, 'rich'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_impossible_requests_fail_instead_of_spinning(monkeypatch: pytest.MonkeyPatch) -> None:
    only_colours = {level: ("{colour} car",) for level in ("easy", "medium", "hard")}
    monkeypatch.setitem(synth.TEMPLATES, "visual", only_colours)
    with pytest.raises(InvalidInputError, match="only 10 distinct"):
        synthesize(SynthConfig(n=11, intents=("visual",), edge_rate=0.0))


def test_records_are_prompt_only_and_pass_distillation_validation(ten_thousand: list) -> None:
    records = to_records(ten_thousand)
    profile = get_profile("distillation")
    for line, record in enumerate(records, start=1):
        assert not record.is_labelled and record.system_text == SYSTEM_PROMPT
        checked = check_line(record.to_json(), line, profile)
        assert isinstance(checked, ConversationRecord), (record.messages[0].text, checked)
