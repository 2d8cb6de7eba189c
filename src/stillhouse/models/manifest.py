"""``stillhouse.json``: what a published model folder says about how its model was trained.

Training in a task's student format (:mod:`stillhouse.tasks.student`) writes it; the registry reads
it once when it resolves the folder and hands it to the hook that serves the format
(:mod:`stillhouse.tasks.student_model`). Only the file lives here, so ``models`` needs no task.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stillhouse.errors import InvalidInputError
from stillhouse.models.draft import PromptLookup

MANIFEST = "stillhouse.json"
# The bounds of ``StudentFormat.reasoning_chars`` (and of the ``studentReasoningChars``
# hyperparameter that sets it): fewer than 16 characters is not a clause ("Spoken words." is 13),
# and reasoning of more than 1,000 is not short (the router's schema stops it at 200).
REASONING_CHARS_MIN = 16
REASONING_CHARS_MAX = 1000


class StudentDecoding(BaseModel):
    """How a published student answers its task's requests faster (benchmarks/bench_student_levers.py
    measures each lever): a cap on every string value (the router's reasoning is closed for the
    model at that many characters), fewer decimals in every number (``multipleOf`` 10^-d, so a
    number at its last decimal ends without a forward pass), prompt-lookup drafts verified in
    batches, and ``decode_until``: the last key of the student's answer that is decoded, the rest
    filled by the task from the student's probabilities for its first choice
    (``Task.complete_from_choice``: the router's weights from its route distribution, read in the
    pass over the prompt that decoding needs anyway). Unset, the student decodes under its task's
    student schema as trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_string_chars: int | None = Field(default=None, ge=1)
    number_decimals: int | None = Field(default=None, ge=0, le=6)
    draft: PromptLookup | None = None
    decode_until: str | None = Field(default=None, min_length=1)


class StudentFormat(BaseModel):
    """How a student's training answers were written, beyond the task's student prompt and order:
    ``reasoning_chars`` shortens the answer's free text (the router's reasoning) to at most that
    many characters at a clause or word boundary, so the student learns to write short reasoning
    itself rather than be cut off mid-thought by a decoding cap (benchmarks/bench_short_reasoning.py).
    Unset, the answers are the teacher's as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasoning_chars: int | None = Field(default=None, ge=REASONING_CHARS_MIN, le=REASONING_CHARS_MAX)

    def decoding(self, decoding: StudentDecoding | None = None) -> StudentDecoding:
        """``decoding`` (default: none of its levers) with its string cap at most
        ``reasoning_chars``: a student trained on short reasoning is decoded under the cap it was
        trained to, so it ends where it learnt to and never runs past it."""
        decoding = decoding or StudentDecoding()
        if self.reasoning_chars is None:
            return decoding
        cap = min(self.reasoning_chars, decoding.max_string_chars or self.reasoning_chars)
        return decoding.model_copy(update={"max_string_chars": cap})


class StudentManifest(BaseModel):
    """What a published student folder says about how it was trained (``trained_on``), and how it
    is decoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    student_format: bool = True
    trained_on: StudentFormat = StudentFormat()
    decoding: StudentDecoding = StudentDecoding()


def write_manifest(
    folder: Path, task: str, decoding: StudentDecoding | None = None, trained_on: StudentFormat | None = None
) -> Path:
    """Record in ``folder`` that its model was trained in task ``task``'s student format (as
    ``trained_on`` shaped its answers, and how it is decoded: ``decoding`` capped to what it was
    trained on). A manifest with neither is written as before they existed."""
    path = folder / MANIFEST
    trained_on = trained_on or StudentFormat()
    if trained_on.reasoning_chars is not None:
        decoding = trained_on.decoding(decoding)
    manifest = StudentManifest(task=task, trained_on=trained_on, decoding=decoding or StudentDecoding())
    exclude = {"decoding"} if decoding is None else set()
    if trained_on == StudentFormat():
        exclude.add("trained_on")
    text = manifest.model_dump_json(indent=2, exclude=exclude or None)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> StudentManifest | None:
    """The folder's manifest, or ``None`` when it has none (a plain model folder)."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        return StudentManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise InvalidInputError(f"{path}: not a stillhouse student manifest ({exc})", field="model") from exc
