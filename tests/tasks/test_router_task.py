"""VideoRouterTask: registry, prompt, schema, canonical rendering, consensus and scoring."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stillhouse.errors import InvalidInputError
from stillhouse.tasks import get_task
from stillhouse.tasks.video_router import MODALITIES, VideoRouterTask
from stillhouse.tasks.video_router.schema import JSON_SCHEMA, RouterAnswer
from stillhouse.tasks.video_router.weights import dominant, intent_of, round_hundredths, top_modalities

TASK = VideoRouterTask()


def test_registered_under_its_name() -> None:
    task = get_task("video-router")
    assert isinstance(task, VideoRouterTask) and task.name == "video-router"
    assert task.json_schema is JSON_SCHEMA


def test_prompt_defines_every_modality_and_the_contract() -> None:
    prompt = TASK.system_prompt
    for word in (
        *MODALITIES,
        "reasoning",
        "sum to 1.0",
        "camera angle",
        "licensing",
        "upload date",
        "lyrics",
    ):
        assert word in prompt
    assert len(prompt.split()) < 140  # teacher time is prompt tokens on a 2-core CPU
    messages = TASK.messages("dog barking")
    assert [m.role for m in messages] == ["system", "user"] and messages[1].content == "dog barking"


def test_schema_accepts_a_rendered_answer_and_refuses_extras() -> None:
    rendered = TASK.render(
        {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "x"}
    )
    jsonschema.validate(json.loads(rendered), JSON_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(rendered), "confidence": 0.9}, JSON_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(rendered), "visual": 1.5}, JSON_SCHEMA)


def test_router_answer_model_enforces_the_sum() -> None:
    RouterAnswer(visual=0.7, audio=0.1, transcription=0.1, metadata=0.105, reasoning="x")
    with pytest.raises(ValueError, match="sum"):
        RouterAnswer(visual=0.7, audio=0.2, transcription=0.1, metadata=0.1, reasoning="x")
    with pytest.raises(ValueError):
        RouterAnswer(visual=0.7, audio=0.1, transcription=0.1, metadata=0.1, reasoning="x", extra=1)


def test_render_is_canonical_compact_json() -> None:
    value = {
        "metadata": 0.1,
        "reasoning": "  A visual\n scene. ",
        "visual": 0.7,
        "audio": 0.1,
        "transcription": 0.1,
    }
    assert TASK.render(value) == (
        '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "A visual scene."}'
    )
    thirds = json.loads(
        TASK.render({"visual": 1, "audio": 1, "transcription": 1, "metadata": 0, "reasoning": "x"})
    )
    assert [thirds[m] for m in MODALITIES] == [0.34, 0.33, 0.33, 0.0]
    assert TASK.parse(TASK.render(value)).ok


@given(
    st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), min_size=4, max_size=4).filter(
        lambda w: sum(w) > 1e-3
    )
)
def test_rounding_always_sums_to_exactly_one(raw: list[float]) -> None:
    rounded = round_hundredths(dict(zip(MODALITIES, raw, strict=True)))
    assert round(sum(rounded.values()) * 100) == 100
    assert all(round(v * 100) == pytest.approx(v * 100) for v in rounded.values())
    assert TASK.parse(TASK.render({**rounded, "reasoning": "r"})).ok


def test_combine_averages_renormalises_and_keeps_the_closest_reasoning() -> None:
    samples = [
        {"visual": 0.8, "audio": 0.1, "transcription": 0.05, "metadata": 0.05, "reasoning": "far"},
        {"visual": 0.6, "audio": 0.2, "transcription": 0.1, "metadata": 0.1, "reasoning": "close"},
        {"visual": 60, "audio": 20, "transcription": 10, "metadata": 10, "reasoning": "percent scale"},
    ]
    combined = TASK.combine(samples)
    assert combined["visual"] == pytest.approx((0.8 + 0.6 + 0.6) / 3)
    assert sum(combined[m] for m in MODALITIES) == pytest.approx(1.0)
    assert combined["reasoning"] == "close"  # the first of the two samples nearest the consensus
    assert TASK.combine(samples[:1])["reasoning"] == "far"
    with pytest.raises(InvalidInputError):
        TASK.combine([])


def test_score_through_the_task_interface() -> None:
    reference = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "r"}'
    assert TASK.score(reference, reference) == {
        "score": 5.0,
        "valid": 1.0,
        "dominant_match": 1.0,
        "mae": 0.0,
        "max_error": 0.0,
    }
    assert TASK.score("I can't help with that.", reference)["score"] == 1.0
    with pytest.raises(InvalidInputError, match="reference"):
        TASK.score(reference, "not an answer")


def test_dominance_and_intent() -> None:
    tie = {"visual": 0.4, "audio": 0.4, "transcription": 0.1, "metadata": 0.1}
    assert dominant(tie) == "visual"  # exact ties go to canonical order
    assert top_modalities(tie) == {"visual", "audio"}
    assert top_modalities({**tie, "audio": 0.395, "transcription": 0.105}) == {"visual", "audio"}
    assert intent_of(tie) == "mixed"
    assert intent_of({"visual": 0.55, "audio": 0.25, "transcription": 0.1, "metadata": 0.1}) == "visual"
    assert intent_of({"visual": 0.5, "audio": 0.3, "transcription": 0.1, "metadata": 0.1}) == "mixed"
