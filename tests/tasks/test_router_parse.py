"""The lenient router parser on answers shaped like real model output, and its error codes."""

from __future__ import annotations

import pytest

from stillhouse.tasks.video_router.parse import parse_answer

GOOD = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "A visual scene."}'
WEIGHTS = {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}


def _weights(value: dict) -> dict:
    return {k: round(v, 6) for k, v in value.items() if k != "reasoning"}


# Answers that honour the contract once the wrapping is peeled off: all must parse with no errors.
WRAPPED_OK = [
    GOOD,
    f"  {GOOD}\n",
    f"```json\n{GOOD}\n```",
    f"```\n{GOOD}\n```",
    f"Here is the routing for your query:\n\n```json\n{GOOD}\n```\nLet me know if you need more.",
    f"Sure! {GOOD} Hope this helps.",
    "{'visual': 0.7, 'audio': 0.1, 'transcription': 0.1, 'metadata': 0.1, 'reasoning': 'A visual scene.'}",
    '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "A visual scene.",}',
    '{\n  "visual": 0.7,\n  "audio": 0.1,\n  "transcription": 0.1,\n  "metadata": 0.1,\n  "reasoning": "A visual scene."\n}',
    '{visual: 0.7, audio: 0.1, transcription: 0.1, metadata: 0.1, reasoning: "A visual scene."}',
    "“visual” is below: {“visual”: 0.7, “audio”: 0.1, “transcription”: 0.1, “metadata”: 0.1, “reasoning”: “A visual scene.”}",
    # Braces and quotes inside the reasoning must not confuse the brace matcher.
    'Answer: {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "It\'s a {scene} with \\"quotes\\"."}',
]


@pytest.mark.parametrize("text", WRAPPED_OK)
def test_wrapped_answers_parse_cleanly(text: str) -> None:
    result = parse_answer(text)
    assert result.ok, result.errors
    assert _weights(result.value) == WEIGHTS
    assert result.value["reasoning"]


def test_first_object_with_weights_wins_over_other_json() -> None:
    text = 'Input: {"query": "sunset"}\nOutput: ' + GOOD
    assert parse_answer(text).ok


# (answer, the exact error list)
BROKEN = [
    (
        "I think the query is mostly visual.",
        ["not_json", *(f"missing_key:{m}" for m in WEIGHTS), "missing_key:reasoning"],
    ),
    ("", ["not_json", *(f"missing_key:{m}" for m in WEIGHTS), "missing_key:reasoning"]),
    ('{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "reasoning": "x"}', ["missing_key:metadata"]),
    ('{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1}', ["missing_key:reasoning"]),
    (
        '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "  "}',
        ["empty_reasoning"],
    ),
    (
        '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": 3}',
        ["empty_reasoning"],
    ),
    ('{"visual": 0.7, "audio": 0.2, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}', ["sum_not_1"]),
    (
        '{"visual": 1.4, "audio": -0.2, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}',
        ["out_of_range:visual", "out_of_range:audio"],
    ),
    (
        '{"visual": 70, "audio": 10, "transcription": 10, "metadata": 10, "reasoning": "x"}',
        [f"out_of_range:{m}" for m in ("visual", "audio", "transcription", "metadata")],
    ),
    (
        '{"visual": "70%", "audio": "10%", "transcription": "10%", "metadata": "10%", "reasoning": "x"}',
        [f"not_number:{m}" for m in WEIGHTS],
    ),
    (
        '{"visual": "0.7", "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}',
        ["not_number:visual"],
    ),
    (
        '{"visual": "high", "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}',
        ["not_number:visual"],
    ),
    (
        '{"visual": true, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}',
        ["not_number:visual"],
    ),
]


@pytest.mark.parametrize(("text", "errors"), BROKEN)
def test_broken_answers_report_the_rule_they_broke(text: str, errors: list[str]) -> None:
    result = parse_answer(text)
    assert result.errors == errors
    assert result.value is None and not result.ok


def test_sum_tolerance_is_plus_minus_one_hundredth() -> None:
    just_in = '{"visual": 0.705, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}'
    just_out = '{"visual": 0.72, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}'
    assert parse_answer(just_in).ok
    assert parse_answer(just_out).errors == ["sum_not_1"]


# The base Nova Micro answers quoted in the seed blog post (truncated as published), and kin.
SEED_BASE_MODEL = [
    (
        "Here's a JSON representation of the information you requested for a video search query about a CEO "
        'discussing quarterly earnings:\n\n```json\n{ "video": { "visual": 0.3, "audio": 0.3, "transcription": 0.2, '
        '"metadata": 0.1, "reasoning": "The visual component includes the CEO\'s pres',
        "not_json",
    ),
    (
        'Here\'s a JSON representation for a video search query "sunset over mountains":\n```json\n'
        '{ "query": "sunset over mountains", "results": [ { "video_id": "123456", "visual": 0.4, "audio": 0.3, '
        '"transcription": 0.2, "metadata": 0.1, "reasoning": "Mostly scenery." } ] }\n```',
        "nested_object",
    ),
    (
        '{"video": {"visual": 0.4, "audio": 0.3, "transcription": 0.2, "metadata": 0.1, "reasoning": "Scenery."}}',
        "nested_object",
    ),
]


@pytest.mark.parametrize(("text", "first_error"), SEED_BASE_MODEL)
def test_seed_base_model_answers_fail_strictly_but_normalise(text: str, first_error: str) -> None:
    strict = parse_answer(text)
    assert not strict.ok and strict.errors[0] == first_error
    lenient = parse_answer(text, normalize=True)
    assert lenient.value is not None
    assert abs(sum(v for k, v in lenient.value.items() if k != "reasoning") - 1.0) < 1e-9
    assert lenient.errors == strict.errors  # normalising never hides what was wrong


def test_normalize_scales_percentages_and_renormalises() -> None:
    result = parse_answer(
        '{"visual": 60, "audio": 20, "transcription": 10, "metadata": 10, "reasoning": "x"}', normalize=True
    )
    assert _weights(result.value) == {"visual": 0.6, "audio": 0.2, "transcription": 0.1, "metadata": 0.1}
    result = parse_answer(
        '{"visual": "50%", "audio": "30%", "transcription": "10%", "metadata": "10%", "reasoning": "x"}',
        normalize=True,
    )
    assert _weights(result.value) == {"visual": 0.5, "audio": 0.3, "transcription": 0.1, "metadata": 0.1}
    result = parse_answer(
        '{"visual": 0.8, "audio": 0.4, "transcription": 0.4, "metadata": 0.4, "reasoning": "x"}',
        normalize=True,
    )
    assert _weights(result.value) == {"visual": 0.4, "audio": 0.2, "transcription": 0.2, "metadata": 0.2}
    assert result.errors == ["sum_not_1"]


def test_normalize_clamps_negative_weights() -> None:
    result = parse_answer(
        '{"visual": -0.2, "audio": 0.5, "transcription": 0.25, "metadata": 0.25, "reasoning": "x"}',
        normalize=True,
    )
    assert _weights(result.value) == {"visual": 0.0, "audio": 0.5, "transcription": 0.25, "metadata": 0.25}


def test_prose_weights_are_scraped_but_flagged_not_json() -> None:
    text = (
        "**Visual**: 0.5\n**Audio**: 0.2\n**Transcription**: 20%\n**Metadata**: 0.1\nReasoning: mostly visual"
    )
    strict = parse_answer(text)
    assert strict.errors == ["not_json", "missing_key:reasoning"] and strict.value is None
    lenient = parse_answer(text, normalize=True)
    assert _weights(lenient.value) == {"visual": 0.5, "audio": 0.2, "transcription": 0.2, "metadata": 0.1}


@pytest.mark.parametrize(
    "text",
    [
        '{"visual": 0, "audio": 0, "transcription": 0, "metadata": 0, "reasoning": "x"}',
        '{"visual": 0.7, "audio": 0.1, "reasoning": "x"}',
        '{"visual": "lots", "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}',
        "no idea",
    ],
)
def test_normalize_gives_nothing_when_weights_are_unusable(text: str) -> None:
    assert parse_answer(text, normalize=True).value is None


def test_pathological_input_does_not_crash() -> None:
    assert not parse_answer("{" * 5000 + "}" * 5000).ok
    assert not parse_answer("[" * 100_000).ok


def test_miscased_keys_fail_the_contract_but_normalise() -> None:
    text = (
        '{"Visual": 0.7, "AUDIO": 0.1, "transcription": 0.1, "metadata": 0.1, "Reasoning": "A visual scene."}'
    )
    strict = parse_answer(text)
    assert strict.errors == ["missing_key:visual", "missing_key:audio", "missing_key:reasoning"]
    lenient = parse_answer(text, normalize=True)
    assert _weights(lenient.value) == WEIGHTS and lenient.value["reasoning"] == "A visual scene."
