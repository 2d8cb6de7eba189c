from __future__ import annotations

import pytest

from stillhouse.errors import DatasetError, ModelTimeoutError
from stillhouse.evaluate import OVERALL_QUALITY, Judge, evaluate_models
from stillhouse.evaluate.prices import ModelPrice, PriceTable
from stillhouse.models.fake import FakeModel
from stillhouse.tasks import get_task

from .conftest import HELDOUT, record, reference_text


@pytest.fixture(scope="module")
def task():
    return get_task("video-router")


def test_perfect_and_broken_models_get_the_expected_metrics(
    task, heldout_records, perfect_model, broken_model
):
    results = evaluate_models(
        task, heldout_records, {"perfect": perfect_model, "broken": broken_model}, show_progress=False
    )
    perfect, broken = results.models["perfect"].summary, results.models["broken"].summary
    assert (perfect.n, perfect.rubric_mean, perfect.weight_mae) == (4, 5.0, 0.0)
    assert (perfect.dominant_accuracy, perfect.validity, perfect.exact_match) == (1.0, 1.0, 1.0)
    assert perfect.field_mae == {"audio": 0.0, "metadata": 0.0, "transcription": 0.0, "visual": 0.0}
    assert (broken.rubric_mean, broken.dominant_accuracy, broken.validity) == (1.0, 0.0, 0.0)
    assert broken.weight_mae is None  # nothing scorable, not "zero error"
    assert broken.failed_calls == 0
    assert broken.p50_ms is not None and broken.p95_ms >= broken.p50_ms >= 0.0
    assert results.summary()["perfect"]["rubric_mean"] == 5.0
    example = results.models["broken"].examples[0]
    assert example.query == HELDOUT[0][0] and not example.valid and example.parse_errors


def test_partial_model_scores_between(task, heldout_records):
    """Off by 0.1 on two weights of every answer: rubric 4, MAE 0.05, same dominant modality."""

    def shifted(messages, params):
        weights = dict(next(w for q, w in HELDOUT if q == messages[-1].content))
        top = max(weights, key=weights.get)
        low = min(weights, key=weights.get)
        weights[top] = round(weights[top] - 0.1, 2)
        weights[low] = round(weights[low] + 0.1, 2)
        return reference_text(weights, "q")

    summary = (
        evaluate_models(task, heldout_records, {"m": FakeModel(shifted)}, show_progress=False)
        .models["m"]
        .summary
    )
    assert summary.rubric_mean == 4.0
    assert summary.weight_mae == pytest.approx(0.05)
    assert summary.dominant_accuracy == 1.0


def test_failed_calls_count_as_invalid_answers(task, heldout_records):
    summary = evaluate_models(
        task, heldout_records, {"down": FakeModel([ModelTimeoutError("no answer")])}, show_progress=False
    ).models["down"]
    assert summary.summary.failed_calls == 4
    assert summary.summary.validity == 0.0 and summary.summary.rubric_mean == 1.0
    assert "ModelTimeoutError" in summary.examples[0].error


def test_models_decode_under_the_task_schema_with_the_record_prompt(task, heldout_records, perfect_model):
    evaluate_models(task, heldout_records, {"p": perfect_model}, show_progress=False)
    messages, params = perfect_model.calls[0]
    assert params.json_schema == task.json_schema and params.temperature == 0.0
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == "Route the query."


def test_records_without_system_get_the_task_prompt(task, perfect_model):
    q, w = HELDOUT[0]
    evaluate_models(
        task, [record(q, reference_text(w, q), system=False)], {"p": perfect_model}, show_progress=False
    )
    assert perfect_model.calls[0][0][0].content == task.system_prompt


def test_unusable_records_are_reported_not_dropped(task, heldout_records, perfect_model):
    extra = [record("no answer yet", None), record("bad reference", "not json at all")]
    results = evaluate_models(task, heldout_records + extra, {"p": perfect_model}, show_progress=False)
    assert results.n_records == 6 and results.models["p"].summary.n == 4
    assert len(results.skipped) == 2
    assert "no assistant turn" in results.skipped[0] and "record 5" in results.skipped[1]
    with pytest.raises(DatasetError):
        evaluate_models(task, extra, {"p": perfect_model}, show_progress=False)


def test_judge_scores_are_averaged_and_failures_counted(task, heldout_records, perfect_model):
    answers = iter(['{"reasoning": "exact", "score": 5}', "Score: 4", "no idea", '{"score": 5}'])
    judge = Judge(FakeModel(lambda m, p: next(answers), name="judge"), OVERALL_QUALITY)
    results = evaluate_models(task, heldout_records, {"p": perfect_model}, judge=judge, show_progress=False)
    summary = results.models["p"].summary
    assert summary.judge_mean == pytest.approx(14 / 3)
    assert summary.judge_failures == 1
    assert results.judge.rubric.name == "OverallQuality"
    assert results.summary()["p"]["judge_mean"] == summary.judge_mean


def test_a_bare_judge_model_uses_the_task_rubric(task, heldout_records, perfect_model):
    judge_model = FakeModel(['{"score": 4, "reasoning": "r"}'], name="judge")
    results = evaluate_models(
        task, heldout_records, {"p": perfect_model}, judge=judge_model, show_progress=False
    )
    assert results.judge.rubric is OVERALL_QUALITY or results.judge.rubric == OVERALL_QUALITY
    assert "Dominant modality matches" in judge_model.calls[0][0][0].content


def test_cost_per_1k_queries_uses_measured_tokens(task, heldout_records, perfect_model, broken_model):
    prices = PriceTable(models=[ModelPrice(match="perfect", input_per_1k=1.0, output_per_1k=2.0)])
    results = evaluate_models(
        task,
        heldout_records,
        {"perfect": perfect_model, "broken": broken_model},
        prices=prices,
        show_progress=False,
    )
    examples = results.models["perfect"].examples
    expected = 1000 * sum(e.input_tokens / 1000 * 1.0 + e.output_tokens / 1000 * 2.0 for e in examples) / 4
    assert examples[0].input_tokens > 0
    assert results.models["perfect"].summary.cost_per_1k_queries == pytest.approx(expected)
    assert results.models["broken"].summary.cost_per_1k_queries is None  # no price entry: unknown, not free


def test_warmup_calls_are_not_timed_or_scored(task, heldout_records):
    calls: list[str] = []

    def slow_first(messages, params):
        calls.append(messages[-1].content)
        if len(calls) == 1:
            import time

            time.sleep(0.2)  # a lazy load on the first call
        return "no json"

    results = evaluate_models(
        task, heldout_records, {"m": FakeModel(slow_first)}, warmup=1, show_progress=False
    )
    assert len(calls) == 5 and calls[0] == calls[1] == HELDOUT[0][0]
    assert results.models["m"].summary.n == 4
    assert max(e.latency_ms for e in results.models["m"].examples) < 150


def test_field_errors_cover_invalid_but_scorable_answers_like_the_rubric(task, heldout_records):
    """Weights summing to 2.0 break the contract but the rubric still scores them renormalised."""
    answer = '{"visual": 0.5, "audio": 0.5, "transcription": 0.5, "metadata": 0.5, "reasoning": "all"}'
    results = evaluate_models(task, heldout_records[:1], {"m": FakeModel([answer])}, show_progress=False)
    summary, example = results.models["m"].summary, results.models["m"].examples[0]
    assert not example.valid and "sum_not_1" in example.parse_errors
    assert example.field_errors == pytest.approx(
        {"visual": 0.55, "audio": 0.25, "transcription": 0.25, "metadata": 0.05}
    )
    assert summary.weight_mae == pytest.approx(sum(example.field_errors.values()) / 4)


def test_rescore_against_other_references_keeps_timing_and_changes_scores():
    from stillhouse.evaluate.run import evaluate_models, rescore
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import labelled_record

    task = get_task("video-router")
    answer = '{"visual":0.7,"audio":0.1,"transcription":0.1,"metadata":0.1,"reasoning":"scene"}'
    other = '{"visual":0.0,"audio":0.85,"transcription":0.1,"metadata":0.05,"reasoning":"sound"}'
    records = [labelled_record("sunset over the sea", answer), labelled_record("drum solo", answer)]
    results = evaluate_models(task, records, {"m": FakeModel([answer])}, show_progress=False)
    assert results.models["m"].summary.rubric_mean == 5.0

    again = rescore(task, results, {0: answer, 1: other})
    examples = again.models["m"].examples
    assert [e.scores["score"] for e in examples] == [5.0, 1.0]
    assert [e.latency_ms for e in examples] == [e.latency_ms for e in results.models["m"].examples]
    assert again.models["m"].summary.dominant_accuracy == 0.5

    partial = rescore(task, results, {0: answer})
    assert partial.models["m"].summary.n == 1 and "[1]" in partial.skipped[-1]
