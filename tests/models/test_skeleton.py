"""The skeleton of a flat JSON schema: what compiles, which bytes it accepts, what it forces. Pure."""

from __future__ import annotations

import json

import jsonschema
import pytest

from stillhouse.models.skeleton import (
    Cursor,
    EnumSlot,
    Literal,
    NumberSlot,
    StringSlot,
    advance,
    compile_skeleton,
    done,
    forced,
)
from stillhouse.tasks.video_router.schema import JSON_SCHEMA, STUDENT_JSON_SCHEMA

ROUTE = '{"route": "audio", "reasoning": "A bark is heard.", "visual": 0.1, "audio": 0.75, "transcription": 0.05, "metadata": 0.1}'


def read(schema: dict, text: str) -> Cursor | None:
    skeleton = compile_skeleton(schema)
    assert skeleton is not None
    return advance(skeleton, Cursor(), text.encode())


def test_the_student_schema_compiles_to_literals_between_slots():
    skeleton = compile_skeleton(STUDENT_JSON_SCHEMA)
    assert skeleton is not None
    assert skeleton[0] == Literal(b'{"route": "')
    assert skeleton[1] == EnumSlot((b"visual", b"audio", b"transcription", b"metadata"))
    assert skeleton[2] == Literal(b'", "reasoning": "')
    assert skeleton[3] == StringSlot(1, 200)
    assert skeleton[4] == Literal(b'", "visual": ')
    assert skeleton[5] == NumberSlot(0.0, 1, integer=False)
    assert skeleton[-1] == Literal(b"}")


@pytest.mark.parametrize(
    "schema",
    [
        None,
        {"type": "array", "items": {"type": "string"}},
        {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},  # open to extra keys
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "number", "minimum": 0}},
            "required": ["a"],
            "additionalProperties": False,
        },  # an optional key
        {
            "type": "object",
            "properties": {"a": {"type": "number"}},
            "required": ["a"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"a": {"type": "boolean"}},
            "required": ["a"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"a": {"enum": ['say "hi"']}},
            "required": ["a"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"a": {"type": "string", "pattern": "x+"}},
            "required": ["a"],
            "additionalProperties": False,
        },
    ],
)
def test_schemas_it_cannot_express_get_none(schema):
    assert compile_skeleton(schema) is None


def test_a_valid_answer_is_read_to_the_end_and_is_valid_json():
    cursor = read(STUDENT_JSON_SCHEMA, ROUTE)
    assert cursor is not None and done(compile_skeleton(STUDENT_JSON_SCHEMA), cursor)
    jsonschema.validate(json.loads(ROUTE), STUDENT_JSON_SCHEMA)


@pytest.mark.parametrize(
    "text",
    [
        '{"route": "sound"',  # not an option
        '{"route":"audio"',  # another layout than json.dumps writes
        '{"route": "audio", "reasoning": "", ',  # shorter than minLength
        '{"route": "audio", "reasoning": "a\nb',  # a raw control character
        '{"route": "audio", "reasoning": "bad \\q escape',
        '{"route": "audio", "reasoning": "x", "visual": 1.5',  # above the maximum
        '{"route": "audio", "reasoning": "x", "visual": 01',  # a leading zero
        '{"route": "audio", "reasoning": "x", "visual": -0.1',  # negative
        '{"route": "audio", "reasoning": "x", "visual": 0.1234567',  # too many decimals
        '{"route": "audio", "reasoning": "x", "visual": 0., ',  # no digit after the point
        ROUTE + " ",  # nothing may follow the closing brace
    ],
)
def test_bytes_that_break_the_schema_are_refused(text):
    assert read(STUDENT_JSON_SCHEMA, text) is None


def test_strings_take_escapes_and_multibyte_characters_and_count_characters():
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "maxLength": 3}},
        "required": ["s"],
        "additionalProperties": False,
    }
    assert read(schema, '{"s": "\\"é\\u00e9"}') is not None  # three characters
    assert read(schema, '{"s": "abcd') is None  # a fourth
    skeleton = compile_skeleton(schema)
    assert skeleton is not None
    half = advance(skeleton, Cursor(), b'{"s": "' + "é".encode()[:1])
    assert half is not None and advance(skeleton, half, b'"') is None  # a character cut in half
    assert advance(skeleton, Cursor(), b'{"s": "\x80') is None  # a continuation byte with no lead


def test_numbers_stay_within_their_bounds_while_they_are_written():
    schema = {
        "type": "object",
        "properties": {"n": {"type": "number", "minimum": 0.5, "maximum": 2}},
        "required": ["n"],
        "additionalProperties": False,
    }
    for ok in ('{"n": 0.5}', '{"n": 1}', '{"n": 2.0}', '{"n": 0.75}'):
        assert read(schema, ok) is not None, ok
    for bad in ('{"n": 0.4', '{"n": 0}', '{"n": 3', '{"n": 2.1'):
        assert read(schema, bad) is None, bad
    integer = {
        "type": "object",
        "properties": {"k": {"type": "integer", "minimum": 0}},
        "required": ["k"],
        "additionalProperties": False,
    }
    assert read(integer, '{"k": 120}') is not None
    assert read(integer, '{"k": 1.') is None


def test_forced_text_is_the_rest_of_a_literal_and_of_the_one_fitting_option():
    skeleton = compile_skeleton(STUDENT_JSON_SCHEMA)
    assert skeleton is not None
    assert forced(skeleton, Cursor()) == b'{"route": "'
    after_trans = advance(skeleton, Cursor(), b'{"route": "trans')
    assert after_trans is not None
    assert forced(skeleton, after_trans) == b'cription", "reasoning": "'
    mid_reasoning = advance(skeleton, Cursor(), b'{"route": "audio", "reasoning": "A bark')
    assert mid_reasoning is not None and forced(skeleton, mid_reasoning) == b""  # the model's choice
    closed = advance(skeleton, mid_reasoning, b'."')
    assert closed is not None and forced(skeleton, closed) == b', "visual": '


def test_a_string_at_its_maximum_length_is_closed_for_the_model():
    schema = {
        "type": "object",
        "properties": {"s": {"type": "string", "maxLength": 2}, "t": {"enum": ["x"]}},
        "required": ["s", "t"],
        "additionalProperties": False,
    }
    skeleton = compile_skeleton(schema)
    assert skeleton is not None
    full = advance(skeleton, Cursor(), b'{"s": "ab')
    assert full is not None and forced(skeleton, full) == b'", "t": "x"}'


def test_forced_text_always_fits_and_ends_the_object():
    """Walking an answer and appending whatever is forced at each point reads the answer to its end."""
    skeleton = compile_skeleton(JSON_SCHEMA)
    assert skeleton is not None
    text = '{"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "Seen."}'
    cursor, i = Cursor(), 0
    while not done(skeleton, cursor):
        run = forced(skeleton, cursor)
        if run:
            assert text.encode()[i : i + len(run)] == run
            step = run
        else:
            step = text.encode()[i : i + 1]
        cursor = advance(skeleton, cursor, step)
        assert cursor is not None
        i += len(step)
    assert i == len(text.encode())


def _weights_schema(step: object) -> dict:
    weight = {"type": "number", "minimum": 0, "maximum": 1, "multipleOf": step}
    return {
        "type": "object",
        "properties": {"a": weight, "b": weight},
        "required": ["a", "b"],
        "additionalProperties": False,
    }


@pytest.mark.parametrize(("step", "digits"), [(0.1, 1), (0.01, 2), (1, 0), (1e-6, 6)])
def test_a_multiple_of_a_power_of_ten_caps_the_decimals(step, digits):
    skeleton = compile_skeleton(_weights_schema(step))
    assert skeleton is not None and skeleton[1] == NumberSlot(0.0, 1, fraction_digits=digits)


@pytest.mark.parametrize("step", [0.25, 3, 0.2, 1e-7, True, "0.1", 0])
def test_a_multiple_of_that_is_no_number_of_decimals_gets_the_grammar(step):
    assert compile_skeleton(_weights_schema(step)) is None


def test_a_number_at_its_last_decimal_or_its_maximum_is_closed_for_the_model():
    skeleton = compile_skeleton(_weights_schema(0.1))
    assert skeleton is not None
    assert read(_weights_schema(0.1), '{"a": 0.75') is None  # a second decimal
    assert read(_weights_schema(0.1), '{"a": 1.0, "b": 0}') is not None
    at_cap = advance(skeleton, Cursor(), b'{"a": 0.7')
    assert at_cap is not None and forced(skeleton, at_cap) == b', "b": '
    at_max = advance(skeleton, Cursor(), b'{"a": 0.3, "b": 1.0')
    assert at_max is not None and forced(skeleton, at_max) == b"}"
    for open_ in (b'{"a": 0', b'{"a": 1', b'{"a": 0.'):  # a point, a digit or the end may follow
        cursor = advance(skeleton, Cursor(), open_)
        assert cursor is not None and forced(skeleton, cursor) == b"", open_
    whole = compile_skeleton(_weights_schema(1))
    assert whole is not None and read(_weights_schema(1), '{"a": 0.') is None
    one = advance(whole, Cursor(), b'{"a": 1')
    assert one is not None and forced(whole, one) == b', "b": '  # 10 is above the maximum
    default = advance(
        compile_skeleton(STUDENT_JSON_SCHEMA),
        Cursor(),
        b'{"route": "audio", "reasoning": "x", "visual": 0.75',
    )
    assert default is not None and forced(compile_skeleton(STUDENT_JSON_SCHEMA), default) == b""


def test_a_keys_slot_is_found_by_its_place_in_the_schema():
    from stillhouse.errors import InvalidInputError
    from stillhouse.models.skeleton import key_slot

    skeleton = compile_skeleton(STUDENT_JSON_SCHEMA)
    assert isinstance(skeleton[key_slot(skeleton, STUDENT_JSON_SCHEMA, "route")], EnumSlot)
    assert isinstance(skeleton[key_slot(skeleton, STUDENT_JSON_SCHEMA, "reasoning")], StringSlot)
    assert isinstance(skeleton[key_slot(skeleton, STUDENT_JSON_SCHEMA, "metadata")], NumberSlot)
    with pytest.raises(InvalidInputError, match="'weights' is not a key") as info:
        key_slot(skeleton, STUDENT_JSON_SCHEMA, "weights")
    assert info.value.field == "decoding"


@pytest.mark.parametrize(
    ("text", "key", "closed"),
    [
        # the value's last token carried the text after it: cut where the value ends
        (
            '{"route": "audio", "reasoning": "A bark.",',
            "reasoning",
            '{"route": "audio", "reasoning": "A bark."}',
        ),
        (
            '{"route": "audio", "reasoning": "A bark."',
            "reasoning",
            '{"route": "audio", "reasoning": "A bark."}',
        ),
        ('{"route": "audio", "', "route", '{"route": "audio"}'),
        ('{"route": "audio", "reasoning": "A bark.", "visual": 0.1', "visual", None),  # 0.15 may follow
        (ROUTE[: ROUTE.index(', "audio"') + 1], "visual", ROUTE[: ROUTE.index(', "audio"')] + "}"),
        ('{"route": "audio", "reasoning": "A bar', "reasoning", None),  # the value is not written yet
        ('{"route": "nope"', "route", None),  # not text the skeleton accepts
    ],
)
def test_an_answer_is_closed_just_after_the_value_it_stops_at(text, key, closed):
    from stillhouse.models.skeleton import closed_after, key_slot

    skeleton = compile_skeleton(STUDENT_JSON_SCHEMA)
    got = closed_after(skeleton, text.encode(), key_slot(skeleton, STUDENT_JSON_SCHEMA, key))
    assert got == (closed.encode() if closed is not None else None)
    if closed is not None:
        assert list(json.loads(closed))[-1] == key
