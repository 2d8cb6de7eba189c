"""Golden examples: hand-labelled pairs retrieved by similarity and shown to the teacher as few-shot turns.

The decisive lever for a weak teacher (see models.md): the k golden examples most similar to the
query become user/assistant turns before it. Similarity is the cosine of L2-normalised embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.chat import Message
from stillhouse.records.schema import ConversationRecord


class Embedder(Protocol):
    """What retrieval needs from :mod:`stillhouse.models.embeddings`: rows L2-normalised."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class GoldenExample(BaseModel):
    """One few-shot pair: the last user turn of a labelled record and its final answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query: str
    answer: str


def query_text(record: ConversationRecord) -> str:
    """The text a record is retrieved by: its last user turn before any final answer."""
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


def few_shot_turns(examples: Sequence[GoldenExample]) -> list[Message]:
    """User/assistant turns for ``examples``, given best first.

    They are emitted in reverse (the most similar example last), because small models weigh the
    turns nearest the query most.
    """
    turns: list[Message] = []
    for ex in reversed(examples):
        turns += [Message(role="user", content=ex.query), Message(role="assistant", content=ex.answer)]
    return turns


class GoldenIndex:
    """The golden examples with their embeddings; ``nearest`` answers k-NN queries in one matmul."""

    def __init__(self, examples: Sequence[GoldenExample], embedder: Embedder | None) -> None:
        self.examples = list(examples)
        self.embedder = embedder
        self._matrix: np.ndarray | None = None  # embedded on first use: a resumed run may need none

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
        similarity = vectors @ self._golden_matrix(self.embedder).T
        return [[self.examples[i] for i in top_k(row, k)] for row in similarity]
