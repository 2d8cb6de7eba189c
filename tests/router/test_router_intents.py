from __future__ import annotations

import json

import numpy as np
import pytest

from stillhouse.router.intents import (
    contradiction,
    intent_index,
    intent_prior,
    read_intents,
    verify_labels,
    weak_targets,
    write_intents,
)
from stillhouse.tasks.video_router.golden import labelled_record
from stillhouse.tasks.video_router.synth import SynthConfig, SyntheticQuery, synthesize, to_records


def answer(visual: float, audio: float, transcription: float, metadata: float) -> str:
    weights = {"visual": visual, "audio": audio, "transcription": transcription, "metadata": metadata}
    return json.dumps(weights | {"reasoning": "because"})


def query(text: str, intent: str) -> SyntheticQuery:
    return SyntheticQuery(text=text, intent=intent, difficulty="easy")


def test_contradiction_names_the_teachers_dominant_modality():
    assert contradiction("visual", answer(0.15, 0.7, 0.05, 0.1)) == "audio"
    assert contradiction("audio", answer(0.15, 0.7, 0.05, 0.1)) is None


def test_near_ties_mixed_intents_unknown_queries_and_unreadable_answers_are_not_judged():
    assert contradiction("visual", answer(0.4, 0.4, 0.1, 0.1)) is None  # visual is among the top
    assert contradiction("audio", answer(0.4, 0.4, 0.1, 0.1)) is None
    assert contradiction("mixed", answer(0.1, 0.7, 0.1, 0.1)) is None
    assert contradiction(None, answer(0.1, 0.7, 0.1, 0.1)) is None
    assert contradiction("visual", "no weights here") is None


def test_contradiction_reads_answers_that_need_renormalising():
    # 0.2/0.9 sums to 1.2; renormalised, audio still dominates.
    assert contradiction("visual", answer(0.2, 0.9, 0.05, 0.05)) == "audio"


def test_verify_labels_drops_contradicting_answers_and_keeps_everything_else():
    records = [
        labelled_record("lightning over the sea", answer(0.15, 0.7, 0.05, 0.1)),  # rejected
        labelled_record("Lightning, over the SEA!", answer(0.7, 0.1, 0.1, 0.1)),  # same key, agrees
        labelled_record("a dog barking at night", answer(0.1, 0.8, 0.05, 0.05)),
        labelled_record("a golden pair nobody synthesized", answer(0.1, 0.1, 0.1, 0.7)),
        labelled_record("a mixed one", answer(0.1, 0.1, 0.7, 0.1)),
    ]
    intents = intent_index(
        [
            query("lightning over the sea", "visual"),
            query("a dog barking at night", "audio"),
            query("a mixed one", "mixed"),
        ]
    )
    outcome = verify_labels(records, intents)
    assert [r.messages[0].text for r in outcome.kept] == [r.messages[0].text for r in records[1:]]
    assert len(outcome.rejected) == 1
    rejected = outcome.rejected[0]
    assert (rejected.query, rejected.intent, rejected.dominant) == (
        "lightning over the sea",
        "visual",
        "audio",
    )
    assert outcome.counts() == {"kept": 4, "rejected": 1, "checked": 3}


def test_prompt_only_records_pass_verification_unjudged():
    prompts = to_records([query("lightning over the sea", "visual")])
    outcome = verify_labels(prompts, intent_index([query("lightning over the sea", "visual")]))
    assert outcome.kept == prompts and outcome.rejected == []


def test_intent_prior_is_the_mean_of_the_labels_each_modality_dominates():
    rows = np.array([[0.7, 0.1, 0.1, 0.1], [0.5, 0.3, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
    prior = intent_prior(rows)
    assert set(prior) == {"visual", "metadata"}  # no label is dominated by audio or transcription
    np.testing.assert_allclose(prior["visual"], [0.6, 0.2, 0.1, 0.1])
    np.testing.assert_allclose(prior["metadata"], [0.1, 0.1, 0.1, 0.7])


def test_weak_targets_skip_intents_without_a_prior():
    prior = {"visual": np.array([0.6, 0.2, 0.1, 0.1])}
    texts, rows = weak_targets([query("a red car", "visual"), query("mixed one", "mixed")], prior)
    assert texts == ["a red car"]
    assert rows.shape == (1, 4)
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    empty_texts, empty_rows = weak_targets([query("mixed one", "mixed")], prior)
    assert empty_texts == [] and empty_rows.shape == (0, 4)


def test_intents_round_trip_through_jsonl(tmp_path):
    queries = synthesize(SynthConfig(n=25, seed=3))
    path = tmp_path / "data" / "intents.jsonl"
    assert write_intents(path, queries) == 25
    assert read_intents(path) == queries


@pytest.mark.parametrize("intent", ["visual", "audio", "transcription", "metadata"])
def test_answers_following_the_design_intent_always_pass(intent):
    queries = [q for q in synthesize(SynthConfig(n=60, seed=5)) if q.intent == intent]
    lean = {m: (0.7 if m == intent else 0.1) for m in ("visual", "audio", "transcription", "metadata")}
    records = [labelled_record(q.text, json.dumps(lean | {"reasoning": "r"})) for q in queries]
    outcome = verify_labels(records, intent_index(queries))
    assert len(outcome.kept) == len(queries) and outcome.checked == len(queries)
