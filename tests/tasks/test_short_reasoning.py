"""Short reasoning in the student format: the pure shortening and the router answers it writes."""

from __future__ import annotations

import json
import unicodedata

import jsonschema
import pytest

from stillhouse.models.manifest import StudentFormat
from stillhouse.tasks import get_task
from stillhouse.tasks.student import decoding_schema, shorten_text, to_student_record, to_student_records
from stillhouse.tasks.video_router.golden import labelled_record, load_dev, load_golden
from stillhouse.tasks.video_router.schema import STUDENT_JSON_SCHEMA

TASK = get_task("video-router")
LONG = "A purely visual scene; metadata may carry location tags, and there is nothing to hear or say."


def _reasonings() -> list[str]:
    return [json.loads(r.answer or "")["reasoning"] for r in [*load_golden(), *load_dev()]]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("", 40, ""),
        ("   ", 40, ""),
        ("Spoken words.", 16, "Spoken words."),
        ("  A  sound\tcue. ", 16, "A sound cue."),  # fits once on one line: whitespace folded, kept whole
        (LONG, len(LONG), LONG),
        # The last clause that fits, when it keeps at least half of the limit
        (LONG, 60, "A purely visual scene; metadata may carry location tags."),
        # else the last ; : . that keeps a third
        (LONG, 50, "A purely visual scene."),
        # a first clause that short is not enough: the words that fit, with no dangling word
        (
            "Typos aside, a horse clearing a fence is a visual action.",
            40,
            "Typos aside, a horse clearing a fence.",
        ),
        (
            "Spanish for a dog running on a beach at sunset: a visual scene.",
            40,
            "Spanish for a dog running on a beach.",
        ),
        # never inside an open quotation
        ('The sign reads "open all night long" in red.', 25, "The sign reads."),
        # the cut's trailing punctuation is replaced by the closing period
        ("Engines roar, tyres screech, crowds cheer loudly.", 30, "Engines roar, tyres screech."),
    ],
)
def test_shorten_text_cuts_at_clause_and_word_boundaries(text: str, limit: int, expected: str) -> None:
    assert shorten_text(text, limit) == expected
    assert len(shorten_text(text, limit)) <= limit


def test_unicode_counts_characters_and_keeps_words_whole() -> None:
    text = "Ein Fußgänger überquert die Straße bei Nacht, gut sichtbar für alle."
    short = shorten_text(text, 30)
    assert short == "Ein Fußgänger überquert die."  # 28 characters, more than 28 bytes
    assert shorten_text("Ünïcödé wörds ärë këpt whole hërë.", 20) == "Ünïcödé wörds ärë."


def test_a_first_word_longer_than_the_limit_is_cut_at_a_character_boundary() -> None:
    assert (
        shorten_text("夜の東京の街並みが見える映像で、車の光が流れている", 16)
        == "夜の東京の街並みが見える映像で、"
    )
    decomposed = "e\u0301" * 20  # é written as e + a combining accent, 40 code points
    short = shorten_text(decomposed, 17)
    assert len(short) == 16 and not unicodedata.combining(decomposed[len(short)])


@pytest.mark.parametrize("limit", [16, 24, 40, 60, 100])
def test_every_teacher_style_reasoning_is_shortened_to_whole_leading_words(limit: int) -> None:
    for text in _reasonings():
        short = shorten_text(text, limit)
        assert 0 < len(short) <= limit, (text, short)
        assert short.count('"') % 2 == 0, short
        words, kept = text.split(), short.split()
        assert kept[:-1] == words[: len(kept) - 1], (text, short)
        last = words[len(kept) - 1]
        assert kept[-1] == last or kept[-1].rstrip(".") == last.rstrip(",;:.\u2014-"), (text, short)


def test_the_student_answer_keeps_its_route_and_weights_and_fits_its_decoding_cap() -> None:
    record = load_golden()[0]
    fmt = StudentFormat(reasoning_chars=24)
    full = json.loads(to_student_record(TASK, record).answer or "")
    short = json.loads(to_student_record(TASK, record, fmt).answer or "")
    assert full["reasoning"] == json.loads(record.answer or "")["reasoning"]
    assert short["reasoning"] == "A purely visual scene."
    assert {k: v for k, v in short.items() if k != "reasoning"} == {
        k: v for k, v in full.items() if k != "reasoning"
    }
    jsonschema.validate(short, decoding_schema(STUDENT_JSON_SCHEMA, fmt.decoding()))
    with pytest.raises(jsonschema.ValidationError):  # the teacher's reasoning would not have fitted
        jsonschema.validate(full, decoding_schema(STUDENT_JSON_SCHEMA, fmt.decoding()))


def test_an_unset_format_writes_the_answers_as_before() -> None:
    records = load_golden()[:5]
    assert to_student_records(TASK, records, StudentFormat()) == to_student_records(TASK, records)


def test_records_of_another_prompt_and_unreadable_answers_are_not_shortened() -> None:
    fmt = StudentFormat(reasoning_chars=16)
    broken = to_student_record(TASK, labelled_record("q", "no idea at all, " * 10), fmt)
    assert broken.answer == "no idea at all, " * 10
    other = labelled_record("q", LONG).model_copy(update={"system": []})
    assert to_student_record(TASK, other, fmt) == other
