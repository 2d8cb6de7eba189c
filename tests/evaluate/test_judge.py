from __future__ import annotations

import json

import pytest

from stillhouse.errors import InvalidInputError, ModelTimeoutError
from stillhouse.evaluate.judge import (
    CORRECTNESS,
    OVERALL_QUALITY,
    Judge,
    JudgeRubric,
    builtin_rubric,
    judge_messages,
    load_rubric,
    parse_judge_answer,
)
from stillhouse.models.fake import FakeModel


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ('{"reasoning": "close weights", "score": 4}', 4.0),
        ('```json\n{"reasoning": "ok", "score": "5"}\n```', 5.0),
        ('Here is my grade: {"Rating": 2.0, "explanation": "vague"}', 2.0),
        ('{"score": {"floatValue": 1.0}}', 1.0),
        ("The weights are close.\nScore: 4", 4.0),
        ("**Rating**: 2 because the reasoning is generic", 2.0),
        ("I quote 'score: 5' from the scale, but my final score is 3", 3.0),
        ("I'd give this 4/5.", 4.0),
        ("4 out of 5", 4.0),
        ("5", 5.0),
    ],
)
def test_parse_reads_the_score_in_many_shapes(text, score):
    verdict = parse_judge_answer(text, OVERALL_QUALITY)
    assert verdict.score == score
    assert verdict.error is None


def test_parse_keeps_the_reasoning_from_json():
    verdict = parse_judge_answer('{"reasoning": "dominant matches", "score": 2}', OVERALL_QUALITY)
    assert verdict.reasoning == "dominant matches"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"score": 7}', "outside the rating scale"),
        ("Score: 0", "outside the rating scale"),
        ("The answer looks fine to me.", "no score found"),
        ("", "no score found"),
    ],
)
def test_parse_refuses_missing_or_off_scale_scores(text, error):
    verdict = parse_judge_answer(text, OVERALL_QUALITY)
    assert verdict.score is None
    assert error in verdict.error


def test_overall_quality_is_the_seed_rubric():
    assert OVERALL_QUALITY.name == "OverallQuality"
    assert [level.value for level in OVERALL_QUALITY.rating_scale] == [5.0, 4.0, 2.0, 1.0]
    assert "within 0.05" in OVERALL_QUALITY.rating_scale[0].definition
    assert builtin_rubric("video-router") is OVERALL_QUALITY
    assert builtin_rubric("image-keywords") is CORRECTNESS


def test_messages_fill_bedrock_variables_and_list_the_scale():
    system, user = judge_messages(OVERALL_QUALITY, "guitar solo", '{"audio": 0.9}', '{"audio": 0.7}')
    assert "Query: guitar solo" in user.content
    assert 'Candidate answer: {"audio": 0.9}' in user.content
    assert 'Reference answer: {"audio": 0.7}' in user.content
    assert "{{" not in user.content
    assert "- 2: Dominant modality matches" in system.content


def test_inputs_are_substituted_once():
    _, user = judge_messages(OVERALL_QUALITY, "q", "sneaky {{ground_truth}}", "REF")
    assert "Candidate answer: sneaky {{ground_truth}}" in user.content


def test_messages_append_inputs_when_instructions_have_no_variables():
    rubric = JudgeRubric(
        name="Terse",
        instructions="Is it short?",
        ratingScale=[{"definition": "yes", "value": 1}, {"definition": "no", "value": 0}],
    )
    _, user = judge_messages(rubric, "q", "", "r")
    assert user.content.startswith("Is it short?")
    assert "Candidate answer: (empty answer)" in user.content


def test_judge_grades_through_any_chat_model():
    judge_model = FakeModel(['{"reasoning": "weights within 0.1", "score": 4}'], name="judge")
    verdict = Judge(judge_model, OVERALL_QUALITY).grade("q", "pred", "ref")
    assert verdict.score == 4.0
    messages, params = judge_model.calls[0]
    assert params.temperature == 0.0
    assert params.json_schema["properties"]["score"] == {"type": "number", "minimum": 1.0, "maximum": 5.0}


def test_judge_failure_is_a_verdict_error_not_a_crash():
    verdict = Judge(FakeModel([ModelTimeoutError("slow")]), OVERALL_QUALITY).grade("q", "p", "r")
    assert verdict.score is None
    assert "judge call failed" in verdict.error


def test_load_rubric_in_bedrock_shape(tmp_path):
    path = tmp_path / "rubric.json"
    path.write_text(
        json.dumps(
            {
                "name": "OverallQuality",
                "instructions": "Grade {{prediction}} against {{ground_truth}} for {{prompt}}.",
                "ratingScale": [
                    {"definition": "good", "value": {"floatValue": 5.0}},
                    {"definition": "bad", "value": {"floatValue": 1.0}},
                ],
            }
        )
    )
    rubric = load_rubric(path)
    assert (rubric.low, rubric.high) == (1.0, 5.0)


def test_load_rubric_refuses_bad_files(tmp_path):
    path = tmp_path / "rubric.json"
    path.write_text(
        json.dumps({"name": "x", "instructions": "y", "ratingScale": [{"definition": "only", "value": 1}]})
    )
    with pytest.raises(InvalidInputError, match="rubric"):
        load_rubric(path)
