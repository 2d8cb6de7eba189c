"""A published student that was trained in its task's student format, served in the same format.

Training rewrites the task's records into the student format (:mod:`stillhouse.tasks.student`):
a compact prompt and the student's answer order. The published model folder records that in
``stillhouse.json`` (:mod:`stillhouse.models.manifest`); the model registry reads it when it resolves
the folder and hands it to :func:`wrap_student`, registered here as its manifest hook, which wraps
the backend in :class:`StudentFormatModel`. Callers keep sending the task's own prompt and schema
(as they would to the teacher, or to a Bedrock custom model) and the student still sees what it
was trained on; its answer comes back in the task's canonical form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, stream_chat
from stillhouse.errors import InvalidInputError
from stillhouse.models.manifest import StudentDecoding, StudentManifest, read_manifest
from stillhouse.models.registry import register_manifest_hook
from stillhouse.tasks.base import Task


class StudentFormatModel(ChatModel):
    """``inner`` answering requests written for ``task`` as its student was trained to read them,
    under the student schema as ``decoding`` tightens it."""

    def __init__(self, inner: ChatModel, task: Task, decoding: StudentDecoding | None = None) -> None:
        self.inner, self.task = inner, task
        self.decoding = decoding or StudentDecoding()
        self.name = inner.name
        self.supports_json_schema = inner.supports_json_schema

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        from stillhouse.tasks.student import from_student_answer, to_student_request

        swapped, swapped_params = to_student_request(self.task, messages, params, self.decoding)
        if swapped is messages:  # not a request for the task: the answer is not the task's either
            return self.inner.generate(messages, params)
        if self.decoding.decode_until is not None and swapped_params.json_schema != params.json_schema:
            return self._completed(swapped, swapped_params)
        completion = self.inner.generate(swapped, swapped_params)
        return completion.model_copy(update={"text": from_student_answer(self.task, completion.text)})

    def _completed(self, swapped: list[Message], params: GenerationParams) -> Completion:
        """The answer decoded up to ``decode_until`` (under the whole student schema, stopped there)
        and completed by the task from the first choice's scores that the same decode read; an
        answer cut short (``max_tokens``) is returned as written."""
        import json

        assert self.decoding.decode_until is not None
        decoder = getattr(self.inner, "decode_until", None)
        if not callable(decoder):
            raise InvalidInputError(f"{self.name} cannot decode until a key", field="decoding")
        completion, scores = decoder(swapped, params, self.decoding.decode_until)
        if completion.stop_reason == "max_tokens":
            return completion
        value = self.task.complete_from_choice(json.loads(completion.text), scores)
        return completion.model_copy(update={"text": self.task.render(value)})

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        """The inner model's stream for requests that are not the task's; a task answer is read back
        into the task's form (keys reordered, weights repaired) only once it is whole, so it comes
        as one delta, the same text ``generate`` answers."""
        from stillhouse.tasks.student import to_student_request

        swapped, swapped_params = to_student_request(self.task, messages, params, self.decoding)
        if swapped is messages:
            yield from stream_chat(self.inner, messages, params)
            return
        completion = self.generate(messages, params)
        if completion.text:
            yield completion.text
        yield completion

    def option_logprobs(self, messages: list[Message]) -> dict[str, float]:
        """The student's log-probabilities for the options of its answer's first value (an enum:
        the router's ``route``) for a request written for the task, from one forward pass."""
        from stillhouse.tasks.student import to_student_request

        swapped, params = to_student_request(self.task, messages, GenerationParams())
        scorer = getattr(self.inner, "option_logprobs", None)
        if swapped is messages or scorer is None or params.json_schema is None:
            raise InvalidInputError(
                f"{self.name} cannot score its first choice for this request", field="model"
            )
        return dict(scorer(swapped, params.json_schema))


def wrap_student(model: ChatModel, manifest: StudentManifest) -> ChatModel:
    """``model`` wrapped in its task's student format when ``manifest`` says it was trained in one.
    A manifest that completes answers from the first choice (``decode_until``) needs a backend that
    scores it (llama.cpp): any other is refused here, before any request."""
    if not manifest.student_format:
        return model
    from stillhouse.tasks import get_task

    if manifest.decoding.decode_until is not None and not callable(getattr(model, "decode_until", None)):
        raise InvalidInputError(
            f"{model.name} cannot decode until a key and score its first choice, which "
            "decoding.decode_until needs (serve the student's model.gguf with llama.cpp)",
            field="decoding",
        )
    return StudentFormatModel(model, get_task(manifest.task), manifest.decoding)


def wrap_if_student(model: ChatModel, folder: Path) -> ChatModel:
    """``model`` wrapped in its task's student format when ``folder`` holds a manifest."""
    manifest = read_manifest(folder)
    return model if manifest is None else wrap_student(model, manifest)


register_manifest_hook(wrap_student)
