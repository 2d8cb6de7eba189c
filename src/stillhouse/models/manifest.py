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


class StudentDecoding(BaseModel):
    """How a published student answers its task's requests faster (benchmarks/bench_student_levers.py
    measures each lever): a cap on every string value (the router's reasoning is closed for the
    model at that many characters), fewer decimals in every number (``multipleOf`` 10^-d, so a
    number at its last decimal ends without a forward pass), and prompt-lookup drafts verified in
    batches. Unset, the student decodes under its task's student schema as trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_string_chars: int | None = Field(default=None, ge=1)
    number_decimals: int | None = Field(default=None, ge=0, le=6)
    draft: PromptLookup | None = None


class StudentManifest(BaseModel):
    """What a published student folder says about how it was trained, and how it is decoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    student_format: bool = True
    decoding: StudentDecoding = StudentDecoding()


def write_manifest(folder: Path, task: str, decoding: StudentDecoding | None = None) -> Path:
    """Record in ``folder`` that its model was trained in task ``task``'s student format (and how it
    is decoded, when ``decoding`` says)."""
    path = folder / MANIFEST
    manifest = StudentManifest(task=task, decoding=decoding or StudentDecoding())
    text = manifest.model_dump_json(indent=2, exclude=None if decoding else {"decoding"})
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
