"""The hand-labelled golden and dev sets: shape, contract, labelling policy, balance, disjointness."""

from __future__ import annotations

from collections import Counter

import pytest

from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.video_router import MODALITIES, VideoRouterTask
from stillhouse.tasks.video_router.golden import load_dev, load_golden, stratified_split
from stillhouse.tasks.video_router.schema import REASONING_MAX_CHARS
from stillhouse.tasks.video_router.synth import normalise_text
from stillhouse.tasks.video_router.weights import intent_of, weights_of

TASK = VideoRouterTask()
GOLDEN = load_golden()
DEV = load_dev()


def _query(record: ConversationRecord) -> str:
    return record.messages[0].text


def _intents(records: list[ConversationRecord]) -> Counter[str]:
    return Counter(intent_of(weights_of(TASK.parse(r.answer or "").value)) for r in records)


def test_sizes() -> None:
    assert len(GOLDEN) + len(DEV) >= 240
    assert len(GOLDEN) >= 115 and len(DEV) >= 115


@pytest.mark.parametrize("record", GOLDEN + DEV, ids=lambda r: _query(r)[:40])
def test_every_record_meets_the_contract_and_the_policy(record: ConversationRecord) -> None:
    assert record.system_text == TASK.system_prompt
    assert [t.role for t in record.messages] == ["user", "assistant"]
    parsed = TASK.parse(record.answer or "")
    assert parsed.ok, parsed.errors
    assert record.answer == TASK.render(parsed.value)  # stored in canonical form
    weights = weights_of(parsed.value)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(round(w * 20) == pytest.approx(w * 20) for w in weights.values()), "multiples of 0.05"
    assert min(weights.values()) >= 0.05 - 1e-9
    top = max(weights.values())
    assert top <= 0.45 + 1e-9 or 0.55 - 1e-9 <= top <= 0.80 + 1e-9, "single intents 0.55-0.80, mixed <= 0.45"
    assert 10 <= len(parsed.value["reasoning"]) <= REASONING_MAX_CHARS


@pytest.mark.parametrize("records", [GOLDEN, DEV], ids=["golden", "dev"])
def test_each_file_is_balanced_by_intent(records: list[ConversationRecord]) -> None:
    counts = _intents(records)
    assert set(counts) == {*MODALITIES, "mixed"}
    assert max(counts.values()) - min(counts.values()) <= 2
    assert min(counts.values()) >= 0.18 * len(records)


def test_no_duplicates_and_golden_dev_disjoint() -> None:
    golden = [normalise_text(_query(r)) for r in GOLDEN]
    dev = [normalise_text(_query(r)) for r in DEV]
    assert len(set(golden)) == len(golden) and len(set(dev)) == len(dev)
    assert not set(golden) & set(dev)


def test_edge_cases_are_present_in_both_halves() -> None:
    for records in (GOLDEN, DEV):
        queries = [_query(r) for r in records]
        assert any(not q.isascii() for q in queries), "non-English (non-ASCII) queries"
        assert sum(len(q.split()) == 1 for q in queries) >= 3, "one-word queries"
        assert any(len(q.split()) >= 25 for q in queries), "very long queries"
        assert sum("'" in q for q in queries) >= 5, "quoted text"


def test_stratified_split_halves_each_intent() -> None:
    items = [
        (f"q{i}", {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}) for i in range(5)
    ]
    items += [
        (f"m{i}", {"visual": 0.4, "audio": 0.4, "transcription": 0.1, "metadata": 0.1}) for i in range(4)
    ]
    first, second = stratified_split(items, seed=3)
    assert sorted(first + second) == list(range(9))
    assert len([i for i in first if i < 5]) == 3 and len([i for i in first if i >= 5]) == 2
    assert stratified_split(items, seed=3) == (first, second)


def test_a_constant_answer_scores_poorly_on_dev() -> None:
    """Calibration quoted in the rubric docstring: no-information answers stay below a mean of 3."""
    from stillhouse.tasks.video_router.rubric import aggregate, score_answer

    references = [TASK.parse(r.answer or "").value for r in DEV]
    flat = '{"visual": 0.25, "audio": 0.25, "transcription": 0.25, "metadata": 0.25, "reasoning": "x"}'
    metrics = aggregate([score_answer(flat, ref) for ref in references])
    assert metrics.mean_score == pytest.approx(2.944, abs=0.001)
    assert metrics.dominant_accuracy < 0.4 and metrics.mae > 0.2
