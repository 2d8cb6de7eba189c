"""Golden-example retrieval: the most similar labelled examples become few-shot turns."""

from __future__ import annotations

import numpy as np
from tests.teacher.helpers import labelled_record, mix_answer, prompt_record

from stillhouse.teacher.golden import GoldenExample, GoldenIndex, few_shot_turns, golden_examples, top_k

GOLDEN = [
    labelled_record("electric guitar solo live on stage", mix_answer(0.1)),
    labelled_record("sunset over snowy mountains", mix_answer(0.9)),
    labelled_record("chief executive announces layoffs in a speech", mix_answer(0.2)),
    labelled_record("documents uploaded by NASA during 2019", mix_answer(0.3)),
]


def test_only_labelled_records_are_golden() -> None:
    examples = golden_examples([*GOLDEN, prompt_record("no answer here")])
    assert [ex.query for ex in examples] == [r.messages[0].text for r in GOLDEN]
    assert examples[1].answer == mix_answer(0.9)


def test_retrieval_picks_the_most_similar(embedder) -> None:
    index = GoldenIndex(golden_examples(GOLDEN), embedder)
    queries = ["guitar solo in a rainy street", "snowy mountains at sunset", "uploaded by NASA in 2019"]
    nearest = index.nearest(queries, k=2)
    assert [shots[0].query for shots in nearest] == [
        "electric guitar solo live on stage",
        "sunset over snowy mountains",
        "documents uploaded by NASA during 2019",
    ]
    assert all(len(shots) == 2 and shots[0] != shots[1] for shots in nearest)


def test_k_larger_than_the_pool_returns_all(embedder) -> None:
    index = GoldenIndex(golden_examples(GOLDEN), embedder)
    assert len(index.nearest(["anything"], k=10)[0]) == len(GOLDEN)
    assert index.nearest(["anything"], k=0) == [[]]


def test_without_embedder_the_first_k_are_fixed_shots() -> None:
    index = GoldenIndex(golden_examples(GOLDEN), None)
    assert [ex.query for ex in index.nearest(["x", "y"], k=2)[1]] == [
        GOLDEN[0].messages[0].text,
        GOLDEN[1].messages[0].text,
    ]


def test_top_k_is_stable_on_ties() -> None:
    assert top_k(np.array([0.5, 0.9, 0.5, 0.9]), 3) == [1, 3, 0]


def test_few_shot_turns_put_the_best_example_last() -> None:
    best, second = GoldenExample(query="best", answer="A1"), GoldenExample(query="second", answer="A2")
    turns = few_shot_turns([best, second])
    assert [(m.role, m.content) for m in turns] == [
        ("user", "second"),
        ("assistant", "A2"),
        ("user", "best"),
        ("assistant", "A1"),
    ]
