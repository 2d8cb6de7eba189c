"""``stillhouse.json``: what a published model folder says about how its model was trained.

Training in a task's student format (:mod:`stillhouse.tasks.student`) writes it; the registry reads
it once when it resolves the folder and hands it to the hook that serves the format
(:mod:`stillhouse.tasks.student_model`). Only the file lives here, so ``models`` needs no task.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from stillhouse.errors import InvalidInputError

MANIFEST = "stillhouse.json"


class StudentManifest(BaseModel):
    """What a published student folder says about how it was trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str
    student_format: bool = True


def write_manifest(folder: Path, task: str) -> Path:
    """Record in ``folder`` that its model was trained in task ``task``'s student format."""
    path = folder / MANIFEST
    path.write_text(StudentManifest(task=task).model_dump_json(indent=2) + "\n", encoding="utf-8")
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
