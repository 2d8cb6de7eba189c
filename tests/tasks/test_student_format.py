"""The router's student format: compact prompt, route-then-reasoning answers, requests swapped to match."""

from __future__ import annotations

import json

import jsonschema
import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks import get_task
from stillhouse.tasks.student import (
    from_student_answer,
    to_student_record,
    to_student_records,
    to_student_request,
)
from stillhouse.tasks.video_router.golden import labelled_record, load_golden
from stillhouse.tasks.video_router.schema import JSON_SCHEMA, STUDENT_JSON_SCHEMA

TASK = get_task("video-router")
ANSWER = '{"visual": 0.1, "audio": 0.7, "transcription": 0.1, "metadata": 0.1, "reasoning": "A sound."}'


def test_the_student_prompt_is_a_fraction_of_the_teacher_prompt() -> None:
    assert TASK.student_prompt is not None
    assert len(TASK.student_prompt.split()) * 5 < len(TASK.system_prompt.split())
    assert TASK.student_json_schema is STUDENT_JSON_SCHEMA


def test_a_task_record_is_rewritten_with_the_same_values_route_and_reasoning_first() -> None:
    record = labelled_record("dog barking at night", ANSWER)
    student = to_student_record(TASK, record)
    assert student.system_text == TASK.student_prompt
    assert student.messages[0] == record.messages[0]
    answer = student.answer or ""
    keys = ["route", "reasoning", "visual", "audio", "transcription", "metadata"]
    assert list(json.loads(answer)) == keys
    assert json.loads(answer)["route"] == "audio"
    assert TASK.parse(answer).value == TASK.parse(ANSWER).value
    jsonschema.validate(json.loads(answer), STUDENT_JSON_SCHEMA)


def test_the_route_is_the_argmax_and_an_exact_tie_goes_to_the_canonical_order() -> None:
    tie = '{"visual": 0.1, "audio": 0.4, "transcription": 0.4, "metadata": 0.1, "reasoning": "Both."}'
    assert json.loads(TASK.render_student(TASK.parse(tie).value or {}))["route"] == "audio"
    with_metadata = ANSWER.replace('"audio": 0.7', '"audio": 0.1').replace(
        '"metadata": 0.1', '"metadata": 0.7'
    )
    assert json.loads(TASK.render_student(TASK.parse(with_metadata).value or {}))["route"] == "metadata"


def test_the_student_schema_refuses_an_unknown_route() -> None:
    answer = json.loads(TASK.render_student(TASK.parse(ANSWER).value or {}))
    jsonschema.validate(answer, STUDENT_JSON_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(answer | {"route": "mixed"}, STUDENT_JSON_SCHEMA)


def test_a_fixable_answer_is_repaired_and_a_broken_one_kept_as_written() -> None:
    off = ANSWER.replace('"audio": 0.7', '"audio": 0.75')  # sums to 1.05: renormalised
    repaired = json.loads(to_student_record(TASK, labelled_record("q", off)).answer or "")
    assert abs(sum(repaired[m] for m in ("visual", "audio", "transcription", "metadata")) - 1) < 1e-9
    broken = to_student_record(TASK, labelled_record("q", "no idea"))
    assert broken.answer == "no idea" and broken.system_text == TASK.student_prompt


def test_records_of_another_prompt_pass_unchanged() -> None:
    other = ConversationRecord.model_validate(
        {
            "system": [{"text": "Label the image."}],
            "messages": [
                {"role": "user", "content": [{"text": "a cat"}]},
                {"role": "assistant", "content": [{"text": ANSWER}]},
            ],
        }
    )
    golden = load_golden()[:3]
    out = to_student_records(TASK, [other, *golden])
    assert out[0] is other
    assert all(r.system_text == TASK.student_prompt for r in out[1:])


def test_a_request_for_the_task_is_swapped_and_others_are_not() -> None:
    params = GenerationParams(max_tokens=64, json_schema=JSON_SCHEMA)
    messages, swapped = to_student_request(TASK, TASK.messages("crowd cheering"), params)
    assert messages == [
        Message(role="system", content=TASK.student_prompt or ""),
        Message(role="user", content="crowd cheering"),
    ]
    assert swapped.json_schema == STUDENT_JSON_SCHEMA and swapped.max_tokens == 64
    # A request that names no schema (a Converse call) is constrained too; another schema is kept.
    _, plain = to_student_request(TASK, TASK.messages("q"), params.model_copy(update={"json_schema": None}))
    assert plain.json_schema == STUDENT_JSON_SCHEMA
    own = {"type": "object"}
    _, kept = to_student_request(TASK, TASK.messages("q"), params.model_copy(update={"json_schema": own}))
    assert kept.json_schema == own
    # Another prompt with no schema, or with a schema of its own, is not the task's.
    other = [Message(role="system", content="Be brief."), Message(role="user", content="hi")]
    unconstrained = params.model_copy(update={"json_schema": None})
    assert to_student_request(TASK, other, unconstrained) == (other, unconstrained)
    own_params = params.model_copy(update={"json_schema": own})
    assert to_student_request(TASK, other, own_params) == (other, own_params)


def test_a_request_in_other_words_that_names_the_task_schema_is_the_tasks() -> None:
    # e.g. an evaluation file written with its own router prompt, scored with --task video-router
    params = GenerationParams(max_tokens=64, json_schema=JSON_SCHEMA)
    worded = [
        Message(role="system", content="Weigh the four indexes for this query."),
        Message(role="user", content="q"),
    ]
    messages, swapped = to_student_request(TASK, worded, params)
    assert messages == [
        Message(role="system", content=TASK.student_prompt or ""),
        Message(role="user", content="q"),
    ]
    assert swapped.json_schema == STUDENT_JSON_SCHEMA
    # No system prompt at all, same thing.
    bare, _ = to_student_request(TASK, [Message(role="user", content="q")], params)
    assert bare[0] == Message(role="system", content=TASK.student_prompt or "")


def test_a_student_answer_comes_back_canonical_and_repaired() -> None:
    student = (
        '{"route": "audio", "reasoning": "A sound.", "visual": 0.1, "audio": 0.75, "transcription": 0.1, '
        '"metadata": 0.1}'
    )
    answer = from_student_answer(TASK, student)
    assert TASK.parse(answer).ok and list(json.loads(answer))[0] == "visual"
    assert "route" not in json.loads(answer)  # the canonical answer has the contract's keys only
    assert json.loads(answer)["audio"] > 0.7
    assert from_student_answer(TASK, '{"reasoning": "cut off') == '{"reasoning": "cut off'


def test_decoding_levers_cap_every_string_and_set_every_numbers_decimals() -> None:
    from stillhouse.models.manifest import StudentDecoding
    from stillhouse.tasks.student import decoding_schema

    assert decoding_schema(STUDENT_JSON_SCHEMA, StudentDecoding()) is STUDENT_JSON_SCHEMA
    assert decoding_schema(None, StudentDecoding(max_string_chars=3)) is None
    capped = decoding_schema(STUDENT_JSON_SCHEMA, StudentDecoding(max_string_chars=40))
    assert capped["properties"]["reasoning"] == {"type": "string", "minLength": 1, "maxLength": 40}
    assert capped["properties"]["route"] == STUDENT_JSON_SCHEMA["properties"]["route"]  # an enum stays
    wider = decoding_schema(STUDENT_JSON_SCHEMA, StudentDecoding(max_string_chars=500))
    assert wider["properties"]["reasoning"]["maxLength"] == 200  # a cap never widens the schema
    tenths = decoding_schema(STUDENT_JSON_SCHEMA, StudentDecoding(number_decimals=1))
    assert tenths["properties"]["audio"] == {"type": "number", "minimum": 0, "maximum": 1, "multipleOf": 0.1}
    whole = decoding_schema(STUDENT_JSON_SCHEMA, StudentDecoding(number_decimals=0))
    assert whole["properties"]["audio"]["multipleOf"] == 1
    assert STUDENT_JSON_SCHEMA["properties"]["audio"] == {"type": "number", "minimum": 0, "maximum": 1}
    jsonschema.validate(
        {"route": "audio", "reasoning": "x", "visual": 0.5, "audio": 0.5, "transcription": 0, "metadata": 0},
        tenths,
    )


def test_a_swapped_request_decodes_under_the_tightened_schema() -> None:
    from stillhouse.models.manifest import StudentDecoding

    decoding = StudentDecoding(max_string_chars=40)
    _, params = to_student_request(TASK, TASK.messages("rain"), GenerationParams(), decoding)
    assert params.json_schema["properties"]["reasoning"]["maxLength"] == 40
    _, own = to_student_request(
        TASK, TASK.messages("rain"), GenerationParams(json_schema={"type": "object"}), decoding
    )
    assert own.json_schema == {"type": "object"}  # a schema of the caller's own is left alone
