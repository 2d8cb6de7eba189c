"""A published student's manifest: load_model serves it in the student format it was trained in."""

from __future__ import annotations

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError
from stillhouse.models import registry
from stillhouse.models.fake import FakeModel
from stillhouse.models.student import (
    MANIFEST,
    StudentFormatModel,
    read_manifest,
    wrap_if_student,
    write_manifest,
)
from stillhouse.tasks import get_task

TASK = get_task("video-router")


def test_manifest_round_trip_and_a_plain_folder_has_none(tmp_path) -> None:
    assert read_manifest(tmp_path) is None
    write_manifest(tmp_path, TASK)
    manifest = read_manifest(tmp_path)
    assert manifest is not None and manifest.task == "video-router" and manifest.student_format


def test_a_broken_manifest_is_refused_by_name(tmp_path) -> None:
    (tmp_path / MANIFEST).write_text('{"task": "video-router", "surprise": 1}')
    with pytest.raises(InvalidInputError, match=MANIFEST):
        read_manifest(tmp_path)


def test_the_wrapped_student_sees_the_student_prompt_and_schema(tmp_path) -> None:
    student_answer = (
        '{"reasoning": "Thunder.", "visual": 0.1, "audio": 0.8, "transcription": 0.0, "metadata": 0.0}'
    )
    inner = FakeModel([student_answer], name="student")
    plain = wrap_if_student(inner, tmp_path)
    assert plain is inner
    write_manifest(tmp_path, TASK)
    model = wrap_if_student(inner, tmp_path)
    assert isinstance(model, StudentFormatModel) and model.name == "student"
    completion = model.generate(TASK.messages("thunder"), GenerationParams(json_schema=TASK.json_schema))
    assert TASK.parse(completion.text).ok  # renormalised from a sum of 0.9, in the task's canonical form
    messages, params = inner.calls[-1]
    assert messages[0].content == TASK.student_prompt and messages[1].content == "thunder"
    assert params.json_schema == TASK.student_json_schema


@pytest.mark.parametrize("as_gguf", [False, True])
def test_load_model_wraps_a_published_folder_or_its_gguf(tmp_path, monkeypatch, as_gguf) -> None:
    loaded: list[str] = []

    def fake_local(parsed, name, **_):
        loaded.append(parsed.target)
        return FakeModel(["{}"], name=name)

    monkeypatch.setattr(registry, "_load_local", fake_local)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    spec = str(tmp_path / "model.gguf") if as_gguf else str(tmp_path)
    assert not isinstance(registry.load_model(spec), StudentFormatModel)
    write_manifest(tmp_path, TASK)
    assert isinstance(registry.load_model(spec), StudentFormatModel)
    assert loaded[-1] == str(tmp_path / "model.gguf")


def test_a_request_for_something_else_reaches_the_student_untouched(tmp_path) -> None:
    write_manifest(tmp_path, TASK)
    inner = FakeModel(["free text"], name="student")
    model = wrap_if_student(inner, tmp_path)
    messages = [Message(role="user", content="hello")]
    assert model.generate(messages, GenerationParams()).text == "free text"
    assert inner.calls[-1][0] == messages and inner.calls[-1][1].json_schema is None
