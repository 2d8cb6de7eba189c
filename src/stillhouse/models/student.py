"""A published student that was trained in its task's student format, served in the same format.

Training rewrites the task's records into the student format (:mod:`stillhouse.tasks.student`):
a compact prompt and the student's answer order. The published model folder records that in
``stillhouse.json``; :func:`stillhouse.models.load_model` then wraps the backend in
:class:`StudentFormatModel`, so callers keep sending the task's own prompt and schema (as they would
to the teacher, or to a Bedrock custom model) and the student still sees what it was trained on; its answer comes
back in the task's canonical form.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message
from stillhouse.errors import InvalidInputError
from stillhouse.tasks.base import Task

MANIFEST = "stillhouse.json"


class StudentManifest(BaseModel):
    """What a published student folder says about how it was trained."""

    model_config = ConfigDict(extra="forbid")

    task: str
    student_format: bool = True


def write_manifest(folder: Path, task: Task) -> Path:
    """Record in ``folder`` that its model was trained in ``task``'s student format."""
    path = folder / MANIFEST
    path.write_text(StudentManifest(task=task.name).model_dump_json(indent=2) + "\n", encoding="utf-8")
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


class StudentFormatModel(ChatModel):
    """``inner`` answering requests written for ``task`` as its student was trained to read them."""

    def __init__(self, inner: ChatModel, task: Task) -> None:
        self.inner, self.task = inner, task
        self.name = inner.name
        self.supports_json_schema = inner.supports_json_schema

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        from stillhouse.tasks.student import from_student_answer, to_student_request

        swapped, swapped_params = to_student_request(self.task, messages, params)
        completion = self.inner.generate(swapped, swapped_params)
        if swapped is messages:  # not a request for the task: the answer is not the task's either
            return completion
        return completion.model_copy(update={"text": from_student_answer(self.task, completion.text)})


def wrap_if_student(model: ChatModel, folder: Path) -> ChatModel:
    """``model`` wrapped in its task's student format when ``folder`` holds a manifest."""
    manifest = read_manifest(folder)
    if manifest is None or not manifest.student_format:
        return model
    from stillhouse.tasks import get_task

    return StudentFormatModel(model, get_task(manifest.task))
