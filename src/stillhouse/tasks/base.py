"""What a task is: the prompt, the output contract, and the pure functions around it.

A task knows how to render a query into messages, what JSON schema its answers follow, how to read an
answer back (leniently, reporting which contract rule failed), how to combine several samples into a
consensus, and how to score a prediction against a reference. All of it is pure: no model calls here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from stillhouse.chat import Message
from stillhouse.models.manifest import StudentFormat


class ParseResult(BaseModel):
    """An answer read back: ``value`` when it meets the contract, else the rules it broke."""

    model_config = ConfigDict(extra="forbid")

    value: dict[str, Any] | None = None
    errors: list[str] = []

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.errors


class Task(ABC):
    """A distillation task. Subclasses are registered in :mod:`stillhouse.tasks`."""

    name: str
    system_prompt: str
    json_schema: dict[str, Any] | None = None
    # The distilled student's own compact instruction, used in place of ``system_prompt`` for training
    # and serving (None: the student sees the teacher's prompt). A student that only ever does this
    # task needs no definitions, and every prompt token is paid on each CPU training step and answer.
    student_prompt: str | None = None
    # Whether the task's prompts carry images (its prompt sets are read under the image-prompts rules).
    takes_images: bool = False

    @property
    def student_json_schema(self) -> dict[str, Any] | None:
        """The schema the student decodes under (by default the task's)."""
        return self.json_schema

    def messages(self, query: str) -> list[Message]:
        """The conversation a teacher or student sees for one query."""
        return [Message(role="system", content=self.system_prompt), Message(role="user", content=query)]

    @abstractmethod
    def parse(self, text: str) -> ParseResult:
        """Read a model's answer (JSON, fenced JSON or free text) and check the contract."""

    def lenient_value(self, text: str) -> dict[str, Any] | None:
        """The answer's value as far as the task can repair it (e.g. weights renormalised), even when
        it breaks the contract; ``None`` when unreadable. Default: the task repairs nothing."""
        return None

    def accept(self, text: str, *, repair: bool = False) -> ParseResult:
        """The strict parse; with ``repair``, an answer the task can fix is accepted when the fixed
        value, rendered, passes the strict parser, so repair never lets a broken answer out."""
        parsed = self.parse(text)
        if parsed.ok or not repair:
            return parsed
        fixed = self.lenient_value(text)
        if fixed is not None and self.parse(self.render(fixed)).ok:
            return ParseResult(value=fixed)
        return parsed

    def render(self, value: dict[str, Any]) -> str:
        """The canonical answer text for a parsed value (what the student is trained to write)."""
        import json

        return json.dumps(value, ensure_ascii=False)

    def render_student(self, value: dict[str, Any], fmt: StudentFormat | None = None) -> str:
        """The answer text the student is trained to write (by default :meth:`render`; a task with
        free text shortens it as ``fmt`` says)."""
        return self.render(value)

    def complete_from_choice(self, value: dict[str, Any], logprobs: Mapping[str, float]) -> dict[str, Any]:
        """The whole answer from its decoded leading part ``value`` and the student's log-probability
        of each option of the answer's first value (``StudentDecoding.decode_until``). Default:
        refused, since a task's other values do not follow from its first choice."""
        from stillhouse.errors import InvalidInputError

        raise InvalidInputError(
            f"task {self.name} cannot complete an answer from its first choice", field="decoding"
        )

    def steering_pool(self) -> list[tuple[str, str]]:
        """(query, class) pairs that steer the teacher's few-shot retrieval towards a query's likely
        class (:class:`stillhouse.teacher.golden.ShotSteering`); none by default."""
        return []

    def answer_class(self, answer: str) -> str | None:
        """The class of an answer, as :meth:`steering_pool` names classes; ``None`` by default."""
        return None

    def combine(self, values: list[dict[str, Any]]) -> dict[str, Any]:
        """Consensus of several valid samples (self-consistency). Default: the first one."""
        return values[0]

    def score(self, prediction: str, reference: str) -> dict[str, float]:
        """Per-example metrics of a prediction against a reference answer. Default: exact match."""
        return {"exact_match": float(prediction.strip() == reference.strip())}
