"""Hyperparameter validation under Bedrock's names (pure)."""

from __future__ import annotations

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.train.hparams import allowed_keys, lr_factor, parse_assignments, parse_hyperparameters


def test_defaults_depend_on_method() -> None:
    lora = parse_hyperparameters({}, "lora")
    full = parse_hyperparameters(None, "full")
    assert (lora.epochCount, lora.learningRateWarmupSteps, lora.batchSize) == (2, 10, 4)
    assert lora.learningRate == 1e-4
    assert full.learningRate == 1e-5


def test_strings_are_parsed_to_typed_values() -> None:
    hp = parse_hyperparameters(
        {"epochCount": "5", "learningRate": "3e-5", "learningRateWarmupSteps": " 0 ", "batchSize": "1"}
    )
    assert hp.model_dump() == {
        "epochCount": 5,
        "learningRate": 3e-5,
        "learningRateWarmupSteps": 0,
        "batchSize": 1,
        "distillationMethod": "sft",
        "kdWeight": 0.5,
        "kdTemperature": 1.0,
        "kdTopK": 20,
        "kdBeta": 0.0,
        "studentReasoningChars": None,
    }
    # An SFT run records what it did before distillation existed (its checkpoints still resume).
    assert hp.recorded() == {
        "epochCount": 5,
        "learningRate": 3e-5,
        "learningRateWarmupSteps": 0,
        "batchSize": 1,
    }


def test_distillation_keys_are_parsed_and_recorded_for_kd_runs() -> None:
    hp = parse_hyperparameters(
        {"distillationMethod": " kd ", "kdWeight": "1", "kdTemperature": "2", "kdTopK": "5", "kdBeta": "0.5"}
    )
    assert (hp.distillationMethod, hp.kdWeight, hp.kdTemperature, hp.kdTopK, hp.kdBeta) == (
        "kd",
        1,
        2,
        5,
        0.5,
    )
    assert hp.recorded()["distillationMethod"] == "kd" and hp.recorded()["kdTopK"] == 5


def test_the_reasoning_cap_is_optional_parsed_and_recorded_only_when_set() -> None:
    from stillhouse.models.manifest import StudentFormat

    unset = parse_hyperparameters({})
    assert unset.studentReasoningChars is None and "studentReasoningChars" not in unset.recorded()
    assert unset.student_format() == StudentFormat()
    hp = parse_hyperparameters({"studentReasoningChars": " 40 "})
    assert hp.recorded()["studentReasoningChars"] == 40
    assert hp.student_format() == StudentFormat(reasoning_chars=40)
    assert parse_hyperparameters({"studentReasoningChars": "16"}).studentReasoningChars == 16
    assert parse_hyperparameters({"studentReasoningChars": "1000"}).studentReasoningChars == 1000


@pytest.mark.parametrize("method", ["kd", "uld"])
def test_the_reasoning_cap_is_refused_with_logit_distillation(method: str) -> None:
    with pytest.raises(InvalidInputError, match="use sft") as err:
        parse_hyperparameters({"studentReasoningChars": "40", "distillationMethod": method})
    assert err.value.field == "studentReasoningChars"
    assert parse_hyperparameters({"studentReasoningChars": "40", "distillationMethod": "sft"})


def test_a_recipe_format_becomes_the_hyperparameter_a_job_would_send() -> None:
    from stillhouse.models.manifest import StudentFormat
    from stillhouse.train.hparams import with_student_format

    raw = {"epochCount": "2"}
    assert with_student_format(raw, StudentFormat()) == raw
    short = with_student_format(raw, StudentFormat(reasoning_chars=40))
    assert short == {"epochCount": "2", "studentReasoningChars": "40"} and raw == {"epochCount": "2"}
    assert parse_hyperparameters(short).student_format().reasoning_chars == 40


@pytest.mark.parametrize("value", ["dpo", "KD", "", "1"])
def test_unknown_distillation_method_names_the_choices(value: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_hyperparameters({"distillationMethod": value})
    assert err.value.field == "distillationMethod"
    assert "expected one of sft, kd, uld" in str(err.value)


def test_unknown_key_is_named_with_the_allowed_ones() -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_hyperparameters({"epochs": "2"})
    assert err.value.field == "epochs"
    assert "epochs" in str(err.value)
    assert all(key in str(err.value) for key in allowed_keys())


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("epochCount", "0", "an integer from 1 to 5"),
        ("epochCount", "6", "an integer from 1 to 5"),
        ("epochCount", "2.5", "an integer from 1 to 5"),
        ("learningRate", "1e-3", "a number from 1e-06 to 0.0001"),
        ("learningRate", "5e-7", "a number from 1e-06 to 0.0001"),
        ("learningRate", "nan", "a number from 1e-06 to 0.0001"),
        ("learningRate", "fast", "a number from 1e-06 to 0.0001"),
        ("learningRateWarmupSteps", "101", "an integer from 0 to 100"),
        ("learningRateWarmupSteps", "-1", "an integer from 0 to 100"),
        ("batchSize", "0", "an integer from 1 to 64"),
        ("batchSize", "65", "an integer from 1 to 64"),
        ("kdWeight", "1.5", "a number from 0 to 1"),
        ("kdWeight", "-0.1", "a number from 0 to 1"),
        ("kdTemperature", "0", "a number from 0.1 to 10"),
        ("kdTemperature", "inf", "a number from 0.1 to 10"),
        ("kdTopK", "0", "an integer from 1 to 20"),
        ("kdTopK", "21", "an integer from 1 to 20"),
        ("kdTopK", "2.0", "an integer from 1 to 20"),
        ("kdBeta", "2", "a number from 0 to 1"),
        ("studentReasoningChars", "15", "an integer from 16 to 1000"),
        ("studentReasoningChars", "1001", "an integer from 16 to 1000"),
        ("studentReasoningChars", "40.5", "an integer from 16 to 1000"),
        ("studentReasoningChars", "short", "an integer from 16 to 1000"),
        ("studentReasoningChars", "", "an integer from 16 to 1000"),
    ],
)
def test_bad_values_name_key_and_range(key: str, value: str, expected: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_hyperparameters({key: value})
    assert err.value.field == key
    assert expected in str(err.value)
    assert str(err.value).startswith(f"{key}: ")


def test_range_ends_are_inclusive() -> None:
    hp = parse_hyperparameters({"learningRate": "1e-6", "epochCount": "1", "batchSize": "64"})
    assert (hp.learningRate, hp.epochCount, hp.batchSize) == (1e-6, 1, 64)


def test_cli_assignments() -> None:
    assert parse_assignments(["epochCount=2", " batchSize = 8"]) == {"epochCount": "2", "batchSize": "8"}
    with pytest.raises(InvalidInputError, match="KEY=VALUE"):
        parse_assignments(["epochCount"])


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(s, warmup_steps=3, total_steps=10) for s in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a > b for a, b in zip(factors[3:], factors[4:], strict=False))
    assert factors[-1] > 0


def test_lr_warmup_is_clipped_to_short_runs() -> None:
    # A 4-step run with the default 10 warmup steps still reaches the full rate at its last step.
    assert [lr_factor(s, 10, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [lr_factor(s, 0, 2) for s in range(2)] == [1.0, 0.5]
    assert lr_factor(0, 5, 1) == 1.0
