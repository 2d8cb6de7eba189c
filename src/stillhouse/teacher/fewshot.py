"""The teacher as a model: retrieved golden examples + request cache wrapped around any ChatModel.

Labelling (:func:`stillhouse.teacher.label.label_records`) and evaluation must see the *same* teacher:
the one that answers with the k most similar golden examples as few-shot turns. This wrapper gives
that teacher the plain :class:`~stillhouse.chat.ChatModel` interface so the evaluation harness, the
server or a judge can call it like any other model; labelling asks it for the shots of all its
prompts in one batch (:meth:`FewShotTeacher.shots_for`). Build one with
:func:`stillhouse.teacher.build.build_teacher`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, last_user_text
from stillhouse.models.embeddings import Embedder
from stillhouse.records.schema import ConversationRecord
from stillhouse.teacher.cache import RequestCache, cached_generate
from stillhouse.teacher.golden import GoldenIndex, ShotSteering, few_shot_turns, golden_examples

if TYPE_CHECKING:
    from stillhouse.tasks.base import Task


class FewShotTeacher(ChatModel):
    """``model`` shown the ``k`` golden examples nearest to the last user turn (of its predicted class
    with ``steering``; ``anchored`` of them the class's fixed anchors, see
    :class:`~stillhouse.teacher.golden.GoldenIndex`), answers cached.

    The shots go between the system prompt and the conversation, so the fixed system prefix stays
    first and llama.cpp can reuse its evaluated KV cache from one call to the next. ``task`` is the
    task the teacher answers for (labelling validates against it).
    """

    def __init__(
        self,
        model: ChatModel,
        golden: Sequence[ConversationRecord],
        *,
        k: int = 4,
        embedder: Embedder | None = None,
        cache: RequestCache | None = None,
        steering: ShotSteering | None = None,
        anchored: int = 0,
        task: Task | None = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.supports_json_schema = model.supports_json_schema
        self.k = k
        self.cache = cache
        self.task = task
        self._index = GoldenIndex(golden_examples(golden), embedder, steering, anchored)

    def with_golden(self, records: Sequence[ConversationRecord]) -> FewShotTeacher:
        """This teacher with the labelled ones of ``records`` added to its golden examples (same model,
        embedder, steering and cache; the steering pool is not embedded again)."""
        extra = golden_examples(records)
        if not extra:
            return self
        index = self._index
        wider = copy.copy(self)
        wider._index = GoldenIndex([*index.examples, *extra], index.embedder, index.steering, index.anchored)
        return wider

    def shots_for(self, queries: list[str]) -> list[list[Message]]:
        """The few-shot turns for each query, retrieved in one batch (one embedding call)."""
        return [few_shot_turns(examples) for examples in self._index.nearest(queries, self.k)]

    def with_shots(self, messages: list[Message]) -> list[Message]:
        """``messages`` with the retrieved examples inserted after the system prompt."""
        query = last_user_text(messages) or ""
        shots = self.shots_for([query])[0]
        system = [m for m in messages if m.role == "system"]
        rest = [m for m in messages if m.role != "system"]
        return [*system, *shots, *rest]

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        completion, _ = cached_generate(self.model, self.with_shots(messages), params, self.cache)
        return completion

    def close(self) -> None:
        """Close the request cache (the model itself stays loaded)."""
        if self.cache is not None:
            self.cache.close()

    def __enter__(self) -> FewShotTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
