"""The deterministic rubric at each score level and boundary, and the aggregate metrics."""

from __future__ import annotations

import json

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.tasks.video_router.rubric import (
    RouterScore,
    aggregate,
    latency_percentiles,
    rubric_score,
    score_answer,
)

REF = {"visual": 0.6, "audio": 0.1, "transcription": 0.2, "metadata": 0.1}


def _w(v: float, a: float, t: float, m: float) -> dict[str, float]:
    return {"visual": v, "audio": a, "transcription": t, "metadata": m}


def _answer(weights: dict[str, float], reasoning: str = "because") -> str:
    return json.dumps({**weights, "reasoning": reasoning})


# Rows: prediction against REF = (0.6, 0.1, 0.2, 0.1); comments give (max error, MAE, dominant).
@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        (_w(0.6, 0.1, 0.2, 0.1), 5),  # identical
        (_w(0.65, 0.05, 0.2, 0.1), 5),  # (0.05, 0.025) exactly on the 5 boundary
        (_w(0.55, 0.15, 0.15, 0.15), 5),  # (0.05, 0.05)
        (_w(0.7, 0.05, 0.15, 0.1), 4),  # (0.10, 0.05) exactly on the 4 boundary
        (_w(0.5, 0.15, 0.25, 0.1), 4),  # (0.10, 0.075)
        (_w(0.72, 0.05, 0.13, 0.1), 2),  # (0.12, 0.06, visual): just outside 4
        (_w(0.9, 0.0, 0.1, 0.0), 2),  # (0.30, 0.15, visual): MAE exactly on the 2 boundary
        (_w(0.3, 0.15, 0.4, 0.15), 3),  # (0.30, 0.15, transcription): dominant flipped
        (_w(0.2, 0.5, 0.2, 0.1), 3),  # (0.40, 0.20, audio)
        (_w(1.0, 0.0, 0.0, 0.0), 3),  # (0.40, 0.20, visual): same dominant but MAE > 0.15
        (_w(0.0, 0.6, 0.2, 0.2), 3),  # (0.60, 0.30): MAE exactly 0.30 is not > 0.30
        (_w(0.0, 0.75, 0.2, 0.05), 1),  # (0.65, 0.325)
        (_w(0.0, 0.0, 0.0, 1.0), 1),  # (0.90, 0.45)
    ],
)
def test_rubric_levels(pred: dict[str, float], expected: int) -> None:
    assert rubric_score(pred, REF) == expected


def test_near_tie_reference_accepts_either_top_modality() -> None:
    mixed = _w(0.4, 0.4, 0.1, 0.1)
    assert rubric_score(_w(0.3, 0.5, 0.1, 0.1), mixed) == 4
    assert rubric_score(_w(0.25, 0.55, 0.1, 0.1), mixed) == 2  # audio is one of the tied tops
    assert rubric_score(_w(0.25, 0.1, 0.55, 0.1), mixed) == 3  # transcription is not


def test_a_flat_prediction_does_not_match_every_dominant() -> None:
    flat = _answer(_w(0.25, 0.25, 0.25, 0.25))
    assert not score_answer(flat, _w(0.1, 0.7, 0.1, 0.1)).dominant_match
    assert score_answer(flat, _w(0.7, 0.1, 0.1, 0.1)).dominant_match  # exact ties go to visual


@pytest.mark.parametrize(
    "prediction",
    [
        "no json here",
        '{"visual": 0.6, "audio": 0.4}',
        '{"visual": "a lot", "audio": 0.1, "transcription": 0.2, "metadata": 0.1, "reasoning": "x"}',
    ],
)
def test_unusable_predictions_score_one(prediction: str) -> None:
    result = score_answer(prediction, REF)
    assert (result.score, result.valid, result.dominant_match, result.mae) == (1, False, False, None)
    assert result.errors
    assert set(result.as_metrics()) == {"score", "valid", "dominant_match"}


def test_contract_breaks_cost_validity_not_the_score() -> None:
    fenced = "```json\n" + _answer(REF) + "\n```"
    assert score_answer(fenced, REF).valid  # a fence is tolerated
    percent = _answer({k: v * 100 for k, v in REF.items()})
    result = score_answer(percent, REF)
    assert result.score == 5 and not result.valid and result.mae == pytest.approx(0.0)
    missing_reasoning = json.dumps(REF)
    result = score_answer(missing_reasoning, REF)
    assert result.score == 5 and result.errors == ["missing_key:reasoning"]


def test_score_fields_are_consistent() -> None:
    result = score_answer(_answer(_w(0.7, 0.05, 0.15, 0.1)), REF)
    assert result.mae == pytest.approx(0.05)
    assert result.max_error == pytest.approx(0.10)
    assert result.abs_errors["visual"] == pytest.approx(0.1)
    assert result.as_metrics()["score"] == 4.0 and result.as_metrics()["valid"] == 1.0


def test_aggregate_metrics() -> None:
    scores = [
        score_answer(_answer(REF), REF),  # 5, mae 0
        score_answer(_answer(_w(0.7, 0.05, 0.15, 0.1)), REF),  # 4, mae 0.05
        score_answer("garbage", REF),  # 1, unscorable
        score_answer(_answer(_w(0.2, 0.5, 0.2, 0.1)), REF),  # 3, mae 0.2, wrong dominant
    ]
    metrics = aggregate(scores, latencies_ms=[100, 200, 300, 400])
    assert metrics.n == 4 and metrics.n_scored == 3
    assert metrics.mean_score == pytest.approx((5 + 4 + 1 + 3) / 4)
    assert metrics.mae == pytest.approx((0 + 0.05 + 0.2) / 3)
    assert metrics.dominant_accuracy == pytest.approx(0.5)
    assert metrics.validity_rate == pytest.approx(0.75)
    assert metrics.per_modality_mae["visual"] == pytest.approx((0 + 0.1 + 0.4) / 3)
    assert metrics.per_modality_mae["transcription"] == pytest.approx((0 + 0.05 + 0.0) / 3)
    assert metrics.score_counts == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
    assert metrics.latency_p50_ms == pytest.approx(250.0)
    assert metrics.latency_p95_ms == pytest.approx(385.0)


def test_aggregate_of_nothing_scorable() -> None:
    metrics = aggregate([score_answer("nope", REF)])
    assert metrics.mae is None and metrics.per_modality_mae is None and metrics.mean_score == 1.0
    assert metrics.latency_p50_ms is None


def test_aggregate_refuses_empty_input() -> None:
    with pytest.raises(InvalidInputError):
        aggregate([])
    with pytest.raises(InvalidInputError):
        latency_percentiles([])


def test_router_score_forbids_unknown_fields() -> None:
    with pytest.raises(ValueError):
        RouterScore(score=5, valid=True, dominant_match=True, surprise=1)
