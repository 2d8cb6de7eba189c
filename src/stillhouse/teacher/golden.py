"""Golden examples: hand-labelled pairs retrieved by similarity and shown to the teacher as few-shot turns.

The decisive lever for a weak teacher (see models.md): the k golden examples most similar to the
query become user/assistant turns before it. Similarity is the cosine of L2-normalised embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.chat import Message
from stillhouse.errors import InvalidInputError
from stillhouse.models.embeddings import Embedder
from stillhouse.records.schema import ConversationRecord

if TYPE_CHECKING:
    from stillhouse.tasks.base import Task


class GoldenExample(BaseModel):
    """One few-shot pair: the last user turn of a labelled record and its final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str
    answer: str


def query_text(record: ConversationRecord) -> str:
    """The text a record is retrieved by: its last user turn before any final answer.

    :func:`stillhouse.chat.last_user_text` is the same rule over domain messages; a record's wire
    turns are read directly because converting them (``to_messages``) decodes or fetches every image
    only to keep the text.
    """
    users = [turn for turn in record.prompt_turns if turn.role == "user"]
    return users[-1].text if users else ""


def golden_examples(records: Sequence[ConversationRecord]) -> list[GoldenExample]:
    """The labelled records of ``records`` as few-shot pairs (prompt-only records are ignored)."""
    return [
        GoldenExample(query=query_text(r), answer=r.answer or "")
        for r in records
        if r.is_labelled and r.answer
    ]


def top_k(similarity: np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` largest scores, best first; ties keep the earlier example (stable)."""
    if k <= 0 or similarity.size == 0:
        return []
    order = np.argsort(-similarity, kind="stable")
    return [int(i) for i in order[:k]]


def steered_top_k(
    similarity: np.ndarray, k: int, labels: Sequence[str | None], wanted: str | None
) -> list[int]:
    """The ``k`` nearest examples of class ``wanted``, best first; the nearest others fill any shortfall."""
    order = top_k(similarity, len(labels))
    chosen = [i for i in order if labels[i] == wanted][:k]
    return chosen + [i for i in order if i not in chosen][: k - len(chosen)]


def few_shot_turns(examples: Sequence[GoldenExample]) -> list[Message]:
    """User/assistant turns for ``examples``, given best first.

    They are emitted in reverse (the most similar example last), because small models weigh the
    turns nearest the query most.
    """
    turns: list[Message] = []
    for ex in reversed(examples):
        turns += [Message(role="user", content=ex.query), Message(role="assistant", content=ex.answer)]
    return turns


class ShotSteering:
    """Takes a query's shots from the class it most likely belongs to, not only the nearest in topic.

    A weak teacher copies its shots (models.md), and retrieved by topic alone from a small golden
    set the nearest shot often has the wrong dominant modality. A pool of cheap labelled queries
    (the synthesizer's, with the intent their template was written for) covers far more wording: a
    similarity-weighted vote of the ``votes`` nearest pool and golden entries names the class more
    often, and a teacher shown the nearest golden examples *of that class* routes more queries right
    (benchmarks/bench_teacher_steering.py; figures in README.md and benchmarks/README.md).
    """

    def __init__(
        self, pool: Sequence[tuple[str, str]], class_of: Callable[[str], str | None], *, votes: int = 4
    ) -> None:
        self.texts = [text for text, _ in pool]
        self.labels = [label for _, label in pool]
        self.class_of = class_of  # the class of a golden answer (the router: its dominant modality)
        self.votes = votes
        self._matrix: np.ndarray | None = None

    def _pool_matrix(self, embedder: Embedder) -> np.ndarray:
        if self._matrix is None:
            self._matrix = np.asarray(embedder.embed(self.texts), dtype=np.float32).reshape(
                len(self.texts), -1
            )
        return self._matrix

    def classes(self, vectors: np.ndarray, golden: np.ndarray, labels: list[str | None], embedder: Embedder):
        """The predicted class of each query vector (a vote over the pool and the golden examples)."""
        matrix = np.vstack([golden, self._pool_matrix(embedder)])
        pool_labels = [*labels, *self.labels]
        predicted: list[str | None] = []
        for row in vectors @ matrix.T:
            tally: dict[str, float] = {}
            for i in top_k(row, self.votes):
                if pool_labels[i] is not None:
                    tally[pool_labels[i]] = tally.get(pool_labels[i], 0.0) + float(row[i])
            predicted.append(max(tally, key=tally.__getitem__) if tally else None)
        return predicted

    def anchors(
        self, golden: np.ndarray, labels: list[str | None], embedder: Embedder, per_class: int
    ) -> dict[str, list[int]]:
        """Per class, the ``per_class`` golden examples of that class most typical of it (nearest to
        the centroid of its pool queries), most typical first."""
        pool = self._pool_matrix(embedder)
        chosen: dict[str, list[int]] = {}
        for cls in sorted({label for label in self.labels if label is not None}):
            members = [i for i, label in enumerate(labels) if label == cls]
            if not members or per_class <= 0:
                continue
            centroid = pool[[i for i, label in enumerate(self.labels) if label == cls]].mean(axis=0)
            closeness = golden[members] @ centroid
            chosen[cls] = [members[i] for i in top_k(closeness, per_class)]
        return chosen


def task_steering(task: Task | None) -> ShotSteering | None:
    """The task's shot steering, or ``None`` when it has no steering pool."""
    pool = task.steering_pool() if task is not None else []
    return ShotSteering(pool, task.answer_class) if task is not None and pool else None


class GoldenIndex:
    """The golden examples with their embeddings; ``nearest`` answers k-NN queries in one matmul.

    With ``steering`` and ``anchored`` > 0, that many of each query's shots are its predicted class's
    *anchors* (:meth:`ShotSteering.anchors`), the same for every query of the class, and the rest are
    its nearest examples of the class. The anchors come last in the list, so first in the prompt:
    queries of one class then share the prompt prefix up to their nearest shots, and llama.cpp
    reuses that prefix's evaluated state instead of paying for the shots again.
    """

    def __init__(
        self,
        examples: Sequence[GoldenExample],
        embedder: Embedder | None,
        steering: ShotSteering | None = None,
        anchored: int = 0,
    ) -> None:
        if anchored and steering is None:
            raise InvalidInputError(
                "anchored shots need shot steering (the class to anchor)", field="anchored"
            )
        self.examples = list(examples)
        self.embedder = embedder
        self.steering = steering
        self.anchored = anchored
        self._matrix: np.ndarray | None = None  # embedded on first use: a resumed run may need none
        self._labels: list[str | None] | None = None  # each example's class, parsed once
        self._anchors: dict[int, dict[str, list[int]]] = {}  # by anchors per class: fixed per index

    def _golden_matrix(self, embedder: Embedder) -> np.ndarray:
        if self._matrix is None:
            texts = [ex.query for ex in self.examples]
            self._matrix = np.asarray(embedder.embed(texts), dtype=np.float32)
        return self._matrix

    def __len__(self) -> int:
        return len(self.examples)

    def nearest(self, queries: list[str], k: int) -> list[list[GoldenExample]]:
        """For each query, the ``k`` most similar golden examples, best first.

        Without an embedder the first ``k`` examples are used for every query (fixed few-shot).
        """
        if not self.examples or k <= 0 or not queries:
            return [[] for _ in queries]
        if self.embedder is None:
            return [self.examples[:k] for _ in queries]
        vectors = np.asarray(self.embedder.embed(queries), dtype=np.float32)
        golden = self._golden_matrix(self.embedder)
        similarity = vectors @ golden.T
        if self.steering is None:
            return [[self.examples[i] for i in top_k(row, k)] for row in similarity]
        if self._labels is None:
            self._labels = [self.steering.class_of(ex.answer) for ex in self.examples]
        labels = self._labels
        wanted = self.steering.classes(vectors, golden, labels, self.embedder)
        per_class = min(self.anchored, k)
        if per_class not in self._anchors:
            self._anchors[per_class] = self.steering.anchors(golden, labels, self.embedder, per_class)
        anchors = self._anchors[per_class]
        chosen = []
        for row, cls in zip(similarity, wanted, strict=True):
            fixed = anchors.get(cls, []) if cls is not None else []
            near = [i for i in steered_top_k(row, k, labels, cls) if i not in fixed][: k - len(fixed)]
            chosen.append([self.examples[i] for i in [*near, *fixed]])
        return chosen
