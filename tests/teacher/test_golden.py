"""Golden-example retrieval: the most similar labelled examples become few-shot turns."""

from __future__ import annotations

import numpy as np
import pytest
from tests.teacher.helpers import labelled_record, mix_answer, prompt_record

from stillhouse.tasks.base import ParseResult, Task
from stillhouse.teacher.golden import (
    GoldenExample,
    GoldenIndex,
    ShotSteering,
    few_shot_turns,
    golden_examples,
    steered_top_k,
    task_steering,
    top_k,
)

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


def test_steered_top_k_takes_the_wanted_class_first_then_the_nearest_others() -> None:
    similarity = np.array([0.9, 0.8, 0.1, 0.7])
    labels = ["a", "b", "a", "b"]
    assert steered_top_k(similarity, 3, labels, "b") == [1, 3, 0]
    assert steered_top_k(similarity, 2, labels, "a") == [0, 2]
    assert steered_top_k(similarity, 2, labels, None) == [0, 1]  # no prediction: plain nearest


def test_the_steering_vote_is_over_the_pool_and_the_golden_examples(embedder) -> None:
    pool = [("guitar solo loud", "audio"), ("guitar solo live", "audio"), ("red car parked", "visual")]
    steering = ShotSteering(pool, class_of=lambda answer: answer, votes=3)
    golden = [GoldenExample(query="guitar solo on stage", answer="visual")]
    vectors = embedder.embed(["guitar solo", "red car"])
    matrix = embedder.embed([ex.query for ex in golden])
    assert steering.classes(vectors, matrix, ["visual"], embedder) == ["audio", "visual"]


def test_a_steered_index_shows_the_nearest_golden_examples_of_the_predicted_class(embedder) -> None:
    golden = [
        GoldenExample(query="guitar solo on stage with red lights", answer="visual"),
        GoldenExample(query="crowd cheering loudly", answer="audio"),
    ]
    pool = [(f"guitar solo {word}", "audio") for word in ("loud", "live", "distorted", "acoustic")]
    steering = ShotSteering(pool, class_of=lambda answer: answer)
    assert GoldenIndex(golden, embedder).nearest(["guitar solo"], 1)[0][0].answer == "visual"
    assert GoldenIndex(golden, embedder, steering).nearest(["guitar solo"], 1)[0][0].answer == "audio"
    assert [ex.answer for ex in GoldenIndex(golden, embedder, steering).nearest(["guitar solo"], 2)[0]] == [
        "audio",
        "visual",
    ]


ANCHOR_GOLDEN = [
    GoldenExample(query="guitar solo loud and distorted", answer="audio"),
    GoldenExample(query="crowd cheering in a stadium", answer="audio"),
    GoldenExample(query="drum solo with heavy bass", answer="audio"),
    GoldenExample(query="red car parked on a street", answer="visual"),
    GoldenExample(query="snowy mountains at sunset", answer="visual"),
]
ANCHOR_POOL = [(f"guitar solo {w}", "audio") for w in ("loud", "distorted", "live", "acoustic")] + [
    (f"red car {w}", "visual") for w in ("parked", "racing", "at night")
]


def test_the_anchors_of_a_class_are_its_golden_examples_nearest_its_pool_centroid(embedder) -> None:
    steering = ShotSteering(ANCHOR_POOL, class_of=lambda answer: answer)
    golden = embedder.embed([ex.query for ex in ANCHOR_GOLDEN])
    labels = [ex.answer for ex in ANCHOR_GOLDEN]
    anchors = steering.anchors(golden, labels, embedder, 2)
    assert anchors["audio"][0] == 0 and anchors["visual"][0] == 3  # the most typical first
    assert set(anchors["audio"]) <= {0, 1, 2} and len(anchors["audio"]) == 2
    assert set(anchors["visual"]) == {3, 4}
    assert steering.anchors(golden, labels, embedder, 0) == {}


def test_anchored_shots_are_shared_by_a_class_and_come_first_in_the_prompt(embedder) -> None:
    steering = ShotSteering(ANCHOR_POOL, class_of=lambda answer: answer)
    index = GoldenIndex(ANCHOR_GOLDEN, embedder, steering, anchored=2)
    shots = index.nearest(["guitar solo live", "guitar solo acoustic in a crowd"], 3)
    assert all(len(s) == 3 and len({ex.query for ex in s}) == 3 for s in shots)
    assert all(ex.answer == "audio" for s in shots for ex in s)
    first, second = (few_shot_turns(s) for s in shots)
    assert first[:4] == second[:4]  # the two anchors, as the first two user/assistant pairs
    plain = GoldenIndex(ANCHOR_GOLDEN, embedder, steering).nearest(["guitar solo live"], 3)[0]
    assert {ex.query for ex in plain} == {ex.query for ex in shots[0]}  # the same class, reordered


def test_anchored_shots_need_steering(embedder) -> None:
    from stillhouse.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        GoldenIndex(ANCHOR_GOLDEN, embedder, None, anchored=1)


def test_only_a_task_with_a_steering_pool_steers() -> None:
    from stillhouse.tasks import get_task

    router = get_task("video-router")
    steering = task_steering(router)
    assert steering is not None and set(steering.labels) == {"visual", "audio", "transcription", "metadata"}
    assert len(steering.texts) > 1000 and len(set(steering.texts)) == len(steering.texts)
    answer = '{"visual": 0.1, "audio": 0.6, "transcription": 0.2, "metadata": 0.1, "reasoning": "a sound"}'
    assert router.answer_class(answer) == "audio" and router.answer_class("no json") is None
    assert task_steering(_PlainTask()) is None and task_steering(None) is None


class _PlainTask(Task):
    """A task with no steering pool (the base default)."""

    name, system_prompt = "plain", "Answer."

    def parse(self, text: str) -> ParseResult:
        return ParseResult(value={"text": text})
