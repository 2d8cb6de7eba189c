"""The one small interface both engines implement, and the row layout they share.

A table has, per segment: ``id``, ``info`` (the segment's JSON without its text channels), and per
modality ``{m}_text`` (BM25 field), ``{m}_vec`` (dense vector) and ``has_{m}``; plus
``combined_vec``, one embedding of all channels (the single-embedding baseline). Scores come back
"higher is better": cosine similarity for dense, BM25 for lexical. Fusion happens above this
interface, so the two engines rank alike for the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from stillhouse.search.config import Engine
from stillhouse.tasks.video_router.prompt import MODALITIES

COMBINED = "combined"
DENSE_COLUMNS = (*MODALITIES, COMBINED)
# With an image-text model configured, each keyframe's image vector (``keyframe_vec``, the model's
# width) and its flag; a keyframe counts as the visual modality being present.
KEYFRAME = "keyframe"
KEYFRAME_FLAG = "has_keyframe"


@dataclass(frozen=True)
class Hit:
    """One search result: the row id, its score and the modalities that row has (every search
    returns them, so fusion can renormalise without a second round trip)."""

    id: int
    score: float
    has: tuple[str, ...] = ()


HAS_COLUMNS = tuple(f"has_{m}" for m in MODALITIES)


def present(row: dict[str, object]) -> tuple[str, ...]:
    """The modalities whose ``has_`` flag is set in a result row (visual also by a keyframe vector)."""
    return tuple(m for m in MODALITIES if row.get(f"has_{m}") or (m == "visual" and row.get(KEYFRAME_FLAG)))


@dataclass
class RowBatch:
    """Rows to add, by column: the same length everywhere."""

    ids: list[int]
    info: list[str]
    texts: dict[str, list[str]] = field(default_factory=dict)  # modality -> text ('' when absent)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # dense column -> (n, dim) float32
    keyframes: list[bool] | None = None  # per row, whether vectors[KEYFRAME] holds its keyframe

    def __len__(self) -> int:
        return len(self.ids)

    def has_keyframe(self) -> list[bool]:
        return list(self.keyframes) if self.keyframes is not None else [False] * len(self.ids)

    def has(self, modality: str) -> list[bool]:
        return [bool(t) for t in self.texts[modality]]


@dataclass(frozen=True)
class StoredRow:
    """What a result needs back from the store for one id."""

    info: str
    texts: dict[str, str]


class Store(Protocol):
    """A search engine holding index tables (one per index version)."""

    engine: Engine

    def create(self, table: str, dim: int, keyframe_dim: int | None = None) -> None:
        """Create an empty table (an existing one of that name is an error); ``keyframe_dim``: the
        image model's width, when keyframes are embedded."""

    def add(self, table: str, rows: RowBatch) -> None:
        """Append rows (searchable at once)."""

    def finish(self, table: str) -> None:
        """Bring the lexical and vector indexes up to date after an ingest."""

    def dense(self, table: str, column: str, vector: np.ndarray, k: int) -> list[Hit]:
        """Top-``k`` by cosine among rows that have ``column`` (every row has ``combined``;
        ``keyframe``: the rows with a keyframe vector)."""

    def lexical(self, table: str, modality: str, text: str, k: int) -> list[Hit]:
        """Top-``k`` by BM25 on ``{modality}_text``."""

    def fetch(self, table: str, ids: list[int]) -> dict[int, StoredRow]:
        """The stored info and texts of these ids."""

    def count(self, table: str) -> int:
        """Rows in the table; ids are 0..count-1 (rows are only ever appended)."""

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row as ``{"id", "info", "{m}_text"...}`` in id order (a rebuild re-ingests them)."""

    def size_bytes(self, table: str) -> int | None:
        """Bytes on disk, when the engine can tell."""

    def exists(self, table: str) -> bool: ...


def open_store(engine: Engine, uri: str, *, vector_index_min_rows: int) -> Store:
    """The engine at ``uri``: a LanceDB folder, or a milvus-lite ``.db`` file / Milvus server URI."""
    if engine == "lancedb":
        from stillhouse.search.lance_store import LanceStore

        return LanceStore(uri, vector_index_min_rows=vector_index_min_rows)
    from stillhouse.search.milvus_store import MilvusStore

    return MilvusStore(uri)


def placeholder(dim: int) -> np.ndarray:
    """The vector stored for a missing channel (never searched: dense search filters on ``has_``);
    a unit vector, because cosine is undefined for a zero vector in some engines."""
    out = np.zeros(dim, dtype=np.float32)
    out[0] = 1.0
    return out
