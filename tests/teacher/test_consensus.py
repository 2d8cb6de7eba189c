"""One record: samples with distinct seeds, invalid answers retried, valid samples combined."""

from __future__ import annotations

import random

import pytest
from tests.teacher.helpers import MixTask, mix_answer

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import JobStoppedError, MissingDependencyError, ModelError, ThrottledError
from stillhouse.models.fake import FakeModel
from stillhouse.teacher.consensus import SamplingPlan, ask_teacher, make_checker, sample_params
from stillhouse.teacher.retry import RetryPolicy

MESSAGES = [Message(role="system", content="split"), Message(role="user", content="q")]


def _ask(
    model: FakeModel, plan: SamplingPlan, task: MixTask | None = None, sleeps: list[float] | None = None
):
    return ask_teacher(
        model,
        MESSAGES,
        task=task if task is not None else MixTask(),
        plan=plan,
        cache=None,
        retry=RetryPolicy(max_attempts=3),
        sleep=(sleeps if sleeps is not None else []).append,
        rng=random.Random(0),
    )


def test_single_sample_is_greedy_and_samples_differ() -> None:
    one = SamplingPlan(samples=1)
    assert sample_params(one, 0, 0).temperature == 0.0
    three = SamplingPlan(samples=3, temperature=0.7)
    params = [sample_params(three, s, 0) for s in range(3)]
    assert len({p.seed for p in params}) == 3 and all(p.temperature == 0.7 for p in params)


def test_retry_of_an_invalid_answer_changes_seed_and_warms_up() -> None:
    plan = SamplingPlan(samples=1)
    first, retry = sample_params(plan, 0, 0), sample_params(plan, 0, 1)
    assert retry.seed != first.seed and retry.temperature > first.temperature


def test_consensus_averages_and_renormalises(task: MixTask) -> None:
    model = FakeModel([mix_answer(0.6, "r1"), mix_answer(0.8, "r2"), mix_answer(0.9, "r3")])
    out = _ask(model, SamplingPlan(samples=3), task)
    assert out.value is not None
    assert abs(out.value["a"] - (0.6 + 0.8 + 0.9) / 3) < 1e-9
    assert abs(out.value["a"] + out.value["b"] - 1.0) < 1e-9
    assert out.value["reasoning"] == "r2"  # the sample closest to the consensus
    assert out.answer == task.render(out.value)
    assert out.teacher_calls == 3 and len({p.seed for _, p in model.calls}) == 3


def test_invalid_samples_are_retried_and_only_valid_ones_combined(task: MixTask) -> None:
    model = FakeModel(["garbage", mix_answer(0.5), mix_answer(0.7)])
    out = _ask(model, SamplingPlan(samples=2, invalid_retries=1), task)
    assert out.value is not None and abs(out.value["a"] - 0.6) < 1e-9
    assert out.teacher_calls == 3


def test_persistently_invalid_record_fails_with_the_parser_reason(task: MixTask) -> None:
    out = _ask(FakeModel(["not json at all"]), SamplingPlan(samples=1, invalid_retries=2), task)
    assert out.answer is None and out.reason is not None and "not_json" in out.reason
    assert out.attempts == 3 and out.teacher_calls == 3


def test_repair_accepts_fixable_answers_only_when_asked(task: MixTask) -> None:
    fixable = '{"a": 0.9, "b": 0.3, "reasoning": "sum too big"}'
    repaired = _ask(FakeModel([fixable]), SamplingPlan(repair=True, invalid_retries=0), task)
    assert repaired.value is not None and abs(repaired.value["a"] - 0.75) < 1e-9
    strict = _ask(FakeModel([fixable]), SamplingPlan(repair=False, invalid_retries=0), task)
    assert strict.answer is None and "sum_not_1" in (strict.reason or "")
    unfixable = '{"a": 0.9, "b": 0.3, "reasoning": ""}'
    assert _ask(FakeModel([unfixable]), SamplingPlan(repair=True, invalid_retries=0), task).answer is None


def test_transient_errors_are_retried_with_backoff(task: MixTask) -> None:
    sleeps: list[float] = []
    out = _ask(FakeModel([ThrottledError("429"), mix_answer(0.4)]), SamplingPlan(), task, sleeps)
    assert out.answer is not None and out.attempts == 2 and len(sleeps) == 1


def test_exhausted_and_fatal_errors_become_reasons(task: MixTask) -> None:
    throttled = _ask(FakeModel([ThrottledError("429")]), SamplingPlan(), task)
    assert (
        throttled.answer is None and "ThrottledError" in (throttled.reason or "") and throttled.attempts == 3
    )
    broken = _ask(FakeModel([ModelError("backend crashed")]), SamplingPlan(), task)
    assert broken.answer is None and "backend crashed" in (broken.reason or "")


def test_without_a_task_any_non_empty_text_is_an_answer() -> None:
    check = make_checker(None)
    assert check("  hello ") == ({"text": "  hello "}, None)
    assert check("   ")[1] == "empty answer"
    out = ask_teacher(
        FakeModel(["free text"]),
        MESSAGES,
        task=None,
        plan=SamplingPlan(),
        cache=None,
        retry=RetryPolicy(),
        sleep=lambda s: None,
        rng=random.Random(0),
    )
    assert out.answer == "free text"


def test_json_schema_is_passed_to_the_backend(task: MixTask) -> None:
    model = FakeModel([mix_answer(0.5)])
    _ask(model, SamplingPlan(json_schema=task.json_schema), task)
    params: GenerationParams = model.calls[0][1]
    assert params.json_schema == task.json_schema


def test_errors_that_are_not_about_the_record_stop_the_run(task: MixTask) -> None:
    for error in (JobStoppedError("stop requested"), MissingDependencyError("llama-cpp-python missing")):
        with pytest.raises(type(error)):
            _ask(FakeModel([error]), SamplingPlan(), task)
