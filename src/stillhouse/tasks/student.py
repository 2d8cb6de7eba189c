"""The student format of a task: what a distilled student is trained on and answers in.

A task may give its student a compact prompt and its own answer order (see ``Task.student_prompt``).
Records written for the task (its system prompt, a valid answer) are rewritten into that format
before training; the same swap is applied to each request when the student is served
(:class:`stillhouse.tasks.student_model.StudentFormatModel`), and its answers are read back into the
task's canonical form (:func:`from_student_answer`). Records for anything else pass unchanged,
so a mixed dataset never has its other prompts rewritten. Pure functions, no I/O.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from stillhouse.chat import GenerationParams, Message, system_text, without_system
from stillhouse.models.manifest import StudentDecoding, StudentFormat
from stillhouse.records.schema import ContentBlock, ConversationRecord, SystemBlock, Turn
from stillhouse.tasks.base import Task


def has_student_format(task: Task) -> bool:
    """Whether the task's student is trained and served with its own prompt."""
    return task.student_prompt is not None


def to_student_record(
    task: Task, record: ConversationRecord, fmt: StudentFormat | None = None
) -> ConversationRecord:
    """``record`` in the task's student format, or unchanged when it is not one of the task's.

    A record is the task's when its system prompt is the task's; its answer is re-rendered in the
    student's order (shaped by ``fmt``) when it parses (leniently repaired where the task can), else
    kept as written.
    """
    if not has_student_format(task) or record.system_text.strip() != task.system_prompt.strip():
        return record
    turns = list(record.messages)
    if record.is_labelled:
        answer = to_student_answer(task, record.answer or "", fmt)
        if answer is not None:
            turns[-1] = Turn(role="assistant", content=[ContentBlock(text=answer)])
    assert task.student_prompt is not None
    return record.model_copy(update={"system": [SystemBlock(text=task.student_prompt)], "messages": turns})


def to_student_records(
    task: Task, records: Iterable[ConversationRecord], fmt: StudentFormat | None = None
) -> list[ConversationRecord]:
    return [to_student_record(task, record, fmt) for record in records]


def to_student_answer(task: Task, answer: str, fmt: StudentFormat | None = None) -> str | None:
    """A task answer as the student writes it (what training on the task's records trains on), or
    ``None`` when the task cannot read it (then a record keeps it as written)."""
    parsed = task.accept(answer, repair=True)
    if not parsed.ok or parsed.value is None:
        return None
    return task.render_student(parsed.value, fmt or StudentFormat())


# Punctuation that ends a clause: a shortened text may stop after it and lose only later clauses.
_CLAUSE_ENDS = (".", ";", ":", ",", "!", "?", "\u2014")
_STRONG_ENDS = (".", ";", ":", "!", "?", "\u2014")  # a comma may part a list, these never do
_SENTENCE_ENDS = (".", "!", "?")
# Words a cut between words should not end on: a sentence that stops at "on a beach at" reads as
# broken, at "on a beach" it reads as shorter.
_DANGLING_WORDS = (
    "a an the of at on in to for from by with and or but so as is are was be its their this that "
    "which who what than not also only may can will has have"
)
_DANGLING = frozenset(_DANGLING_WORDS.split())


def shorten_text(text: str, limit: int) -> str:
    """``text`` on one line in at most ``limit`` characters, never cut inside a word.

    Text that fits is kept whole. Otherwise it ends after its last clause that fits and keeps at
    least half of ``limit``, or after its last ``;``/``:``/``.`` that keeps a third: the router's
    teacher names the query's dominant cue in its first clause and supporting cues after it, so
    whole leading clauses keep what matters. Else it ends after the last whole word that fits, with
    no dangling article or preposition and no quotation left open. A period closes a cut text. Only
    a first word longer than ``limit`` (a language written without spaces) is cut inside, at a
    character boundary.
    """
    words = text.split()
    if len(" ".join(words)) <= limit:
        return " ".join(words)
    cuts = _word_cuts(words, limit - 1)  # one character for the closing period
    if not cuts:
        return _cut_characters(words[0], limit)
    kept = _clause_cut(words, cuts, limit)
    if kept is None:
        kept = words[: cuts[-1]]
        while len(kept) > 1 and kept[-1].lower().strip(",;:") in _DANGLING:
            kept = kept[:-1]
    out = " ".join(kept).rstrip(",;:\u2014-")
    return out if out.endswith(_SENTENCE_ENDS) else out + "."


def _word_cuts(words: list[str], room: int) -> list[int]:
    """The word counts whose text fits in ``room`` characters with every quotation closed."""
    cuts: list[int] = []
    length, quotes = -1, 0
    for count, word in enumerate(words, start=1):
        length += 1 + len(word)
        if length > room:
            break
        quotes += word.count('"')
        if quotes % 2 == 0:
            cuts.append(count)
    return cuts


def _clause_cut(words: list[str], cuts: list[int], limit: int) -> list[str] | None:
    """The leading whole clauses to keep (see :func:`shorten_text`), ``None`` when none will do."""
    for ends, share in ((_CLAUSE_ENDS, 2), (_STRONG_ENDS, 3)):
        for count in reversed(cuts):
            kept = words[:count]
            if kept[-1].rstrip('"').endswith(ends) and len(" ".join(kept)) * share >= limit:
                return kept
    return None


def _cut_characters(word: str, limit: int) -> str:
    """The first ``limit`` characters of ``word``, fewer when the next one is a combining mark (an
    accent is never parted from its letter)."""
    end = limit
    while end > 0 and unicodedata.combining(word[end]):
        end -= 1
    return word[:end]


def to_student_shots(task: Task, shots: Iterable[Message]) -> list[Message]:
    """Few-shot turns with their answers in the student's format (those the task can read), so a
    teacher scoring a student-format answer has seen that format in its examples."""
    return [
        m.model_copy(update={"content": to_student_answer(task, m.content) or m.content})
        if m.role == "assistant"
        else m
        for m in shots
    ]


def to_student_request(
    task: Task, messages: list[Message], params: GenerationParams, decoding: StudentDecoding | None = None
) -> tuple[list[Message], GenerationParams]:
    """A request written for the task, as its student was trained to read it.

    A request is the task's when it carries the task's system prompt or names the task's JSON
    schema (an evaluation file may bring its own wording of the router prompt; the schema still says
    a router answer is wanted). Its system prompt becomes the student prompt, and it decodes under
    the student schema when it named the task's schema or none (a Converse call cannot name one): a
    served student's answer is then valid JSON by construction. Anything else (another prompt with no
    schema or another schema) passes unchanged. ``decoding`` tightens the student schema
    (:func:`decoding_schema`).
    """
    own_prompt = system_text(messages).strip() == task.system_prompt.strip()
    own_schema = params.json_schema is not None and params.json_schema == task.json_schema
    if not has_student_format(task) or not (own_prompt or own_schema):
        return messages, params
    assert task.student_prompt is not None
    swapped = [Message(role="system", content=task.student_prompt), *without_system(messages)]
    if params.json_schema is None or params.json_schema == task.json_schema:
        schema = decoding_schema(task.student_json_schema, decoding or StudentDecoding())
        params = params.model_copy(update={"json_schema": schema})
    return swapped, params


def decoding_schema(schema: dict[str, Any] | None, decoding: StudentDecoding) -> dict[str, Any] | None:
    """``schema`` with every top-level string's ``maxLength`` at most ``decoding.max_string_chars``
    and every number a ``multipleOf`` 10^-``number_decimals``; the same schema when neither is set.
    (``decode_until`` leaves the schema whole: the decoder stops inside it, so every token it
    chooses is chosen as under the whole schema.)"""
    if schema is None or (decoding.max_string_chars is None and decoding.number_decimals is None):
        return schema
    properties = {}
    for key, spec in (schema.get("properties") or {}).items():
        spec = dict(spec)
        cap, decimals = decoding.max_string_chars, decoding.number_decimals
        if spec.get("type") == "string" and "enum" not in spec and cap is not None:
            spec["maxLength"] = min(cap, spec.get("maxLength", cap))
        if spec.get("type") in ("number", "integer") and decimals is not None:
            spec["multipleOf"] = 10.0**-decimals if decimals else 1
        properties[key] = spec
    return {**schema, "properties": properties}


def from_student_answer(task: Task, text: str) -> str:
    """A student's answer in the task's canonical form, repaired where the task can (e.g. weights
    renormalised to sum to 1.0); an answer the task cannot read is returned as written.

    The schema makes the JSON well-formed, not its numbers consistent: the student configuration
    in benchmarks/bench_student.py writes some weights that do not sum to 1 (benchmarks/README.md).
    """
    parsed = task.accept(text, repair=True)
    return task.render(parsed.value) if parsed.ok and parsed.value is not None else text
