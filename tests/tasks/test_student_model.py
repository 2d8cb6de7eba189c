"""A published student's manifest: load_model serves it in the student format it was trained in."""

from __future__ import annotations

import json

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.models import registry
from stillhouse.models.fake import FakeModel
from stillhouse.models.manifest import StudentManifest, write_manifest
from stillhouse.tasks import get_task
from stillhouse.tasks.student_model import StudentFormatModel, wrap_if_student, wrap_student

TASK = get_task("video-router")


def test_the_wrapped_student_sees_the_student_prompt_and_schema(tmp_path) -> None:
    student_answer = (
        '{"reasoning": "Thunder.", "visual": 0.1, "audio": 0.8, "transcription": 0.0, "metadata": 0.0}'
    )
    inner = FakeModel([student_answer], name="student")
    plain = wrap_if_student(inner, tmp_path)
    assert plain is inner
    write_manifest(tmp_path, TASK.name)
    model = wrap_if_student(inner, tmp_path)
    assert isinstance(model, StudentFormatModel) and model.name == "student"
    completion = model.generate(TASK.messages("thunder"), GenerationParams(json_schema=TASK.json_schema))
    assert TASK.parse(completion.text).ok  # renormalised from a sum of 0.9, in the task's canonical form
    messages, params = inner.calls[-1]
    assert messages[0].content == TASK.student_prompt and messages[1].content == "thunder"
    assert params.json_schema == TASK.student_json_schema


def test_a_manifest_without_the_student_format_leaves_the_model_as_it_is() -> None:
    inner = FakeModel(["x"], name="student")
    assert wrap_student(inner, StudentManifest(task=TASK.name, student_format=False)) is inner


@pytest.mark.parametrize("as_gguf", [False, True])
def test_load_model_wraps_a_published_folder_or_its_gguf(tmp_path, monkeypatch, as_gguf) -> None:
    loaded: list[str] = []

    def fake_local(resolved, options):
        loaded.append(str(resolved.path))
        return FakeModel(["{}"], name=resolved.name)

    monkeypatch.setitem(registry._LOADERS, "llamacpp", fake_local)
    monkeypatch.setitem(registry._LOADERS, "hf", fake_local)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    spec = str(tmp_path / "model.gguf") if as_gguf else str(tmp_path)
    assert not isinstance(registry.load_model(spec), StudentFormatModel)
    write_manifest(tmp_path, TASK.name)
    assert isinstance(registry.load_model(spec), StudentFormatModel)
    assert loaded[-1] == str(tmp_path / "model.gguf")


def test_a_request_for_something_else_reaches_the_student_untouched(tmp_path) -> None:
    write_manifest(tmp_path, TASK.name)
    inner = FakeModel(["free text"], name="student")
    model = wrap_if_student(inner, tmp_path)
    messages = [Message(role="user", content="hello")]
    assert model.generate(messages, GenerationParams()).text == "free text"
    assert inner.calls[-1][0] == messages and inner.calls[-1][1].json_schema is None


def test_a_task_answer_streams_as_the_one_delta_generate_answers_and_others_stream_through() -> None:
    from stillhouse.chat import Completion, stream_chat

    student_answer = (
        '{"reasoning": "Rain.", "visual": 0.1, "audio": 0.8, "transcription": 0.0, "metadata": 0.0}'
    )
    model = StudentFormatModel(FakeModel([student_answer, "plain words here"], name="student"), TASK)
    params = GenerationParams(json_schema=TASK.json_schema)
    items = list(stream_chat(model, TASK.messages("rain"), params))
    assert len(items) == 2 and isinstance(items[1], Completion) and items[0] == items[1].text
    assert TASK.parse(items[0]).ok and items[0] != student_answer  # read back into the task's form
    other = list(stream_chat(model, [Message(role="user", content="hello")], GenerationParams()))
    assert other[:-1] == ["plain ", "words ", "here"]  # not the task's request: the inner stream


def test_the_manifests_decoding_levers_tighten_the_schema_the_student_decodes_under(tmp_path) -> None:
    from stillhouse.models.manifest import StudentDecoding, read_manifest

    write_manifest(tmp_path, TASK.name, StudentDecoding(max_string_chars=40, number_decimals=1))
    inner = FakeModel(
        [
            '{"route": "audio", "reasoning": "x", "visual": 0.1, "audio": 0.7, '
            '"transcription": 0.1, "metadata": 0.1}'
        ],
        name="student",
    )
    model = wrap_if_student(inner, tmp_path)
    assert isinstance(model, StudentFormatModel) and model.decoding == read_manifest(tmp_path).decoding
    model.generate(TASK.messages("thunder"), GenerationParams(json_schema=TASK.json_schema))
    schema = inner.calls[-1][1].json_schema
    assert schema["properties"]["reasoning"]["maxLength"] == 40
    assert [
        schema["properties"][m]["multipleOf"] for m in ("visual", "audio", "transcription", "metadata")
    ] == [0.1] * 4
    assert schema["properties"]["route"] == TASK.student_json_schema["properties"]["route"]


def test_first_choice_scores_come_from_a_scorer_and_only_for_the_tasks_requests() -> None:
    from stillhouse.errors import InvalidInputError

    class Scorer(FakeModel):
        def option_logprobs(self, messages, schema):
            self.scored = (messages, schema)
            return {"visual": -0.1, "audio": -3.0, "transcription": -4.0, "metadata": -5.0}

    inner = Scorer(["x"], name="student")
    model = StudentFormatModel(inner, TASK)
    assert model.option_logprobs(TASK.messages("a red car"))["visual"] == -0.1
    assert inner.scored[0][0].content == TASK.student_prompt and inner.scored[1] == TASK.student_json_schema
    with pytest.raises(InvalidInputError):
        model.option_logprobs([Message(role="user", content="hello")])  # not the task's request
    with pytest.raises(InvalidInputError):
        StudentFormatModel(FakeModel(["x"]), TASK).option_logprobs(TASK.messages("a red car"))  # no scorer


def test_a_manifests_draft_reaches_the_llama_loader_unless_the_caller_sets_one(tmp_path, monkeypatch) -> None:
    from stillhouse.models.draft import PromptLookup
    from stillhouse.models.manifest import StudentDecoding

    seen: list[object] = []

    def fake_llama(path, **kwargs):
        seen.append(kwargs["draft"])
        return FakeModel(["{}"], name="student")

    monkeypatch.setattr("stillhouse.models.llamacpp.LlamaCppModel", fake_llama)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    write_manifest(tmp_path, TASK.name, StudentDecoding(draft=PromptLookup(tokens=4)))
    registry.load_model(str(tmp_path))
    registry.load_model(str(tmp_path), draft=PromptLookup(tokens=2))
    assert seen == [PromptLookup(tokens=4), PromptLookup(tokens=2)]


def test_a_student_trained_on_short_reasoning_is_served_under_the_cap_it_was_trained_to(tmp_path) -> None:
    from stillhouse.models.manifest import StudentFormat

    write_manifest(tmp_path, TASK.name, trained_on=StudentFormat(reasoning_chars=24))
    answer = '{"route": "audio", "reasoning": "Thunder.", "visual": 0.1, "audio": 0.9, "transcription": 0.0, "metadata": 0.0}'
    inner = FakeModel([answer], name="student")
    model = wrap_if_student(inner, tmp_path)
    assert TASK.parse(model.generate(TASK.messages("thunder"), GenerationParams()).text).ok
    schema = inner.calls[-1][1].json_schema
    assert schema is not None and schema["properties"]["reasoning"]["maxLength"] == 24


class RouteScorer(FakeModel):
    """A student nearly sure of audio that decodes its answer up to a key (as llama.cpp does)."""

    SCORES = {"visual": -5.0, "audio": -0.05, "transcription": -4.0, "metadata": -6.0}

    def decode_until(self, messages, params, key):
        self.until = (messages, params, key)
        return self.generate(messages, params), dict(self.SCORES)


def _until_reasoning(answers: list[str]) -> tuple[RouteScorer, StudentFormatModel]:
    from stillhouse.models.manifest import StudentDecoding

    inner = RouteScorer(answers, name="student")
    return inner, StudentFormatModel(inner, TASK, StudentDecoding(decode_until="reasoning"))


def test_decoding_until_the_reasoning_fills_the_weights_from_the_route_scores() -> None:
    from stillhouse.tasks.video_router.golden import golden_route_prior
    from stillhouse.tasks.video_router.route_head import mixed_weights
    from stillhouse.tasks.video_router.weights import round_hundredths

    inner, model = _until_reasoning(['{"route": "audio", "reasoning": "A dog barks."}'])
    completion = model.generate(
        TASK.messages("a dog barking"), GenerationParams(json_schema=TASK.json_schema)
    )
    value = json.loads(completion.text)
    assert TASK.parse(completion.text).ok and value["reasoning"] == "A dog barks."
    expected = round_hundredths(mixed_weights(RouteScorer.SCORES, golden_route_prior()))
    assert {m: value[m] for m in expected} == expected and max(expected, key=expected.get) == "audio"
    messages, params, key = inner.until
    assert key == "reasoning" and messages[0].content == TASK.student_prompt
    assert params.json_schema == TASK.student_json_schema  # decoded under the whole schema, stopped inside


def test_an_answer_cut_short_before_its_reasoning_ends_comes_back_as_written() -> None:
    class CutShort(RouteScorer):
        def generate(self, messages, params):
            return super().generate(messages, params).model_copy(update={"stop_reason": "max_tokens"})

    inner = CutShort(['{"route": "audio", "reasoning": "A dog'], name="student")
    model = StudentFormatModel(inner, TASK, _until_reasoning([])[1].decoding)
    completion = model.generate(TASK.messages("a dog barking"), GenerationParams(max_tokens=4))
    assert completion.text == '{"route": "audio", "reasoning": "A dog'


def test_a_request_under_another_schema_is_decoded_whole_and_not_completed() -> None:
    inner, model = _until_reasoning(['{"answer": "x"}'])
    other = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    completion = model.generate(TASK.messages("a dog barking"), GenerationParams(json_schema=other))
    assert completion.text == '{"answer": "x"}' and inner.calls[-1][1].json_schema == other
    assert not hasattr(inner, "until")


def test_a_backend_that_cannot_decode_until_a_key_is_refused_when_decode_until_is_set() -> None:
    from stillhouse.errors import InvalidInputError
    from stillhouse.models.manifest import StudentDecoding

    manifest = StudentManifest(task=TASK.name, decoding=StudentDecoding(decode_until="reasoning"))
    with pytest.raises(InvalidInputError, match="cannot decode until a key") as info:
        wrap_student(FakeModel(["{}"], name="student"), manifest)
    assert info.value.field == "decoding"
    assert isinstance(wrap_student(RouteScorer(["{}"]), manifest), StudentFormatModel)
    with pytest.raises(InvalidInputError, match="cannot decode until a key"):  # wrapped by hand
        StudentFormatModel(FakeModel(["{}"]), TASK, manifest.decoding).generate(
            TASK.messages("a dog barking"), GenerationParams()
        )


def test_a_task_whose_answer_does_not_follow_from_its_first_choice_refuses_to_complete_it() -> None:
    from stillhouse.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cannot complete an answer from its first choice"):
        get_task("image-keywords").complete_from_choice({"keywords": []}, {"a": 0.0})
