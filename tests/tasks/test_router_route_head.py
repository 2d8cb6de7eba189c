"""The router's weights-only path: route probabilities mixed over each route's median weights. Pure."""

from __future__ import annotations

import math

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.tasks.video_router.golden import labelled_record, load_golden
from stillhouse.tasks.video_router.route_head import mixed_weights, route_prior

ANSWERS = {
    "visual": '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "Seen."}',
    "audio": '{"visual": 0.1, "audio": 0.8, "transcription": 0.1, "metadata": 0.0, "reasoning": "Heard."}',
    "transcription": '{"visual": 0.0, "audio": 0.0, "transcription": 1.0, "metadata": 0.0, "reasoning": "Said."}',
    "metadata": '{"visual": 0.2, "audio": 0.0, "transcription": 0.0, "metadata": 0.8, "reasoning": "Tagged."}',
}


def test_each_route_gets_the_median_weights_of_its_records_renormalised():
    records = [labelled_record(route, answer) for route, answer in ANSWERS.items()]
    for query, answer in (
        (
            "a second visual query",
            '{"visual": 0.6, "audio": 0.1, "transcription": 0.1, "metadata": 0.2, "reasoning": "Seen."}',
        ),
        (
            "a mixed query leaning visual",
            '{"visual": 0.4, "audio": 0.35, "transcription": 0.05, "metadata": 0.2, "reasoning": "Both."}',
        ),
    ):
        records.append(labelled_record(query, answer))
    prior = route_prior(records)
    # medians 0.6 / 0.1 / 0.1 / 0.2: the mixed query moves no weight (a mean would give audio 0.183)
    assert prior["visual"] == pytest.approx(
        {"visual": 0.6, "audio": 0.1, "transcription": 0.1, "metadata": 0.2}
    )
    assert prior["transcription"] == {"visual": 0.0, "audio": 0.0, "transcription": 1.0, "metadata": 0.0}
    uneven = [
        labelled_record(
            f"q{i}",
            f'{{"visual": {v}, "audio": {a}, "transcription": 0.0, "metadata": {m}, "reasoning": "x"}}',
        )
        for i, (v, a, m) in enumerate(((0.8, 0.1, 0.1), (0.6, 0.3, 0.1), (0.7, 0.1, 0.2)))
    ]
    medians = route_prior([*uneven, *records[1:4]])["visual"]  # 0.7 / 0.1 / 0 / 0.1, sum 0.9
    assert medians == pytest.approx(
        {"visual": 0.7 / 0.9, "audio": 0.1 / 0.9, "transcription": 0.0, "metadata": 0.1 / 0.9}
    )
    golden = route_prior(load_golden())
    assert all(max(w, key=w.get) == route for route, w in golden.items())


def test_a_route_no_record_has_is_refused():
    with pytest.raises(InvalidInputError, match="metadata"):
        route_prior([labelled_record(r, ANSWERS[r]) for r in ("visual", "audio", "transcription")])


def test_weights_are_the_prior_mixed_by_the_renormalised_route_probabilities():
    prior = route_prior([labelled_record(route, answer) for route, answer in ANSWERS.items()])
    sure = {"visual": 0.0, "audio": -50.0, "transcription": -50.0, "metadata": -50.0}
    assert mixed_weights(sure, prior) == pytest.approx(prior["visual"])
    # a half of the four routes' mass each on audio and transcription, whatever the rest of the vocabulary had
    split = {"visual": -60.0, "audio": math.log(0.2), "transcription": math.log(0.2), "metadata": -60.0}
    assert mixed_weights(split, prior) == pytest.approx(
        {"visual": 0.05, "audio": 0.4, "transcription": 0.55, "metadata": 0.0}, abs=1e-9
    )
    assert sum(mixed_weights(split, prior).values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "scores", [{"visual": 0.0}, {"visual": 0, "audio": 0, "transcription": 0, "metadata": 0, "x": 0}]
)
def test_scores_that_do_not_name_the_four_routes_are_refused(scores):
    prior = route_prior([labelled_record(route, answer) for route, answer in ANSWERS.items()])
    with pytest.raises(InvalidInputError):
        mixed_weights(scores, prior)
