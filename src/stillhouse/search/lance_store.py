"""The embedded default engine: LanceDB tables in a folder (every write a new table version).

Lexical search uses LanceDB's native full-text index (BM25) on each channel's text. Dense search
is brute force (exact) until a table reaches ``vector_index_min_rows``; from then each vector column
gets an IVF_FLAT index (exact distances within the partitions probed; PQ codes lost too much
recall on the benchmark's vectors, benchmarks/README), probing a fixed share of its partitions.
Every ingest ends by compacting the table: rows arrive in batches of a few hundred, and a search
pays for every fragment it visits. The ``has_`` flags get bitmap indexes, so a dense search's
prefilter (rows that have the channel) is a lookup rather than a scan. A search reads back only
``id`` and its score; the modalities of each row come from a list read once per opened table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from stillhouse.errors import ConflictError, MissingDependencyError, NotFoundError
from stillhouse.search.store import (
    COMBINED,
    DENSE_COLUMNS,
    HAS_COLUMNS,
    KEYFRAME,
    KEYFRAME_FLAG,
    Hit,
    RowBatch,
    StoredRow,
    present,
)
from stillhouse.tasks.video_router.prompt import MODALITIES

# Share of IVF partitions each dense search probes (its recall against brute force, measured at
# several shares: benchmarks/README).
_PROBE_SHARE = 0.2


def _lancedb() -> Any:
    # Lance's Rust log warns on every k-means it finds small; errors still show.
    os.environ.setdefault("LANCE_LOG", "error")
    try:
        import lancedb
    except ImportError as exc:
        raise MissingDependencyError("search needs: pip install 'stillhouse[search]'") from exc
    return lancedb


class LanceStore:
    engine = "lancedb"

    def __init__(self, uri: str, *, vector_index_min_rows: int) -> None:
        self._db = _lancedb().connect(uri)
        self.uri = uri
        self.vector_index_min_rows = vector_index_min_rows
        self._tables: dict[str, Any] = {}
        self._nprobes: dict[str, int] = {}
        self._columns: dict[str, set[str]] = {}
        self._presence: dict[str, list[tuple[str, ...]]] = {}
        self._contiguous: dict[str, bool] = {}  # ids are exactly 0..rows-1, so offsets are ids

    def _table(self, name: str) -> Any:
        if name not in self._tables:
            try:
                self._tables[name] = self._db.open_table(name)
            except (ValueError, FileNotFoundError) as exc:
                raise NotFoundError(f"no table {name!r} in {self.uri}", field="index") from exc
        return self._tables[name]

    def exists(self, table: str) -> bool:
        return table in self._db.list_tables().tables

    def create(self, table: str, dim: int, keyframe_dim: int | None = None) -> None:
        import pyarrow as pa

        if self.exists(table):
            raise ConflictError(f"table {table!r} already exists in {self.uri}", field="index")
        fields = [pa.field("id", pa.int64()), pa.field("info", pa.string())]
        for m in MODALITIES:
            fields += [pa.field(f"{m}_text", pa.string()), pa.field(f"has_{m}", pa.bool_())]
        fields += [pa.field(f"{c}_vec", pa.list_(pa.float32(), dim)) for c in DENSE_COLUMNS]
        fields.append(pa.field(KEYFRAME_FLAG, pa.bool_()))
        if keyframe_dim is not None:
            fields.append(pa.field(f"{KEYFRAME}_vec", pa.list_(pa.float32(), keyframe_dim)))
        self._tables[table] = self._db.create_table(table, schema=pa.schema(fields))

    def _names(self, table: str) -> set[str]:
        """The table's column names (read once: every search asks)."""
        if table not in self._columns:
            self._columns[table] = set(self._table(table).schema.names)
        return self._columns[table]

    def _vector_columns(self, table: str) -> list[str]:
        return [c for c in (*DENSE_COLUMNS, KEYFRAME) if f"{c}_vec" in self._names(table)]

    def _flags(self, table: str) -> list[str]:
        """The presence flags a result row carries (tables from before keyframes lack that flag)."""
        return [c for c in (*HAS_COLUMNS, KEYFRAME_FLAG) if c in self._names(table)]

    def add(self, table: str, rows: RowBatch) -> None:
        import pyarrow as pa

        if not len(rows):
            return
        tbl = self._table(table)
        columns: dict[str, Any] = {"id": pa.array(rows.ids, pa.int64()), "info": pa.array(rows.info)}
        for m in MODALITIES:
            columns[f"{m}_text"] = pa.array(rows.texts[m])
            columns[f"has_{m}"] = pa.array(rows.has(m))
        if KEYFRAME_FLAG in self._names(table):
            columns[KEYFRAME_FLAG] = pa.array(rows.has_keyframe())
        for c in self._vector_columns(table):
            vectors = np.ascontiguousarray(rows.vectors[c], dtype=np.float32)
            dim = vectors.shape[1]
            columns[f"{c}_vec"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
        tbl.add(pa.table(columns, schema=tbl.schema))
        self._presence.pop(table, None)

    def finish(self, table: str) -> None:
        """Compact the ingest's fragments (``optimize``, which also brings existing indexes up to
        date), then create what is missing: FTS per channel, a B-tree on ``id``, bitmaps on the
        ``has_`` flags, and IVF_FLAT per vector column once the table crosses the threshold. Once
        per ingest, not per batch: each call writes index files and a table version."""
        from lancedb.index import FTS, Bitmap, BTree, IvfFlat

        tbl = self._table(table)
        tbl.optimize()
        indexed = {tuple(i.columns) for i in tbl.list_indices()}
        for m in MODALITIES:
            if (f"{m}_text",) not in indexed:
                # No stemming or stop words: the same analysis as Milvus's standard analyzer.
                tbl.create_index(f"{m}_text", config=FTS(stem=False, remove_stop_words=False), replace=True)
        if ("id",) not in indexed:  # results are fetched by id: a B-tree instead of a scan
            tbl.create_index("id", config=BTree())
        for flag in self._flags(table):
            if (flag,) not in indexed:
                tbl.create_index(flag, config=Bitmap())
        rows = tbl.count_rows()
        if rows >= self.vector_index_min_rows:
            for c in self._vector_columns(table):
                if (f"{c}_vec",) not in indexed:
                    config = IvfFlat(distance_type="cosine", num_partitions=_partitions(rows))
                    tbl.create_index(f"{c}_vec", config=config)
        self._nprobes.pop(table, None)

    def dense(self, table: str, column: str, vector: np.ndarray, k: int) -> list[Hit]:
        query = (
            self._table(table)
            .search(np.asarray(vector, dtype=np.float32), vector_column_name=f"{column}_vec")
            .metric("cosine")
            .nprobes(self._probes(table))
            .limit(k)
            .select(["id", "_distance"])  # named: lance stops adding it unasked
        )
        if column != COMBINED:
            query = query.where(KEYFRAME_FLAG if column == KEYFRAME else f"has_{column}", prefilter=True)
        found = query.to_arrow()
        return self._hits(table, found["id"].to_pylist(), [1.0 - d for d in found["_distance"].to_pylist()])

    def _hits(self, table: str, ids: list[int], scores: list[float]) -> list[Hit]:
        """Hits with each row's modalities from the presence cache: a search that also selected the
        flags paid a random read per flag column per hit, more than the search itself."""
        has = self._present(table)
        if ids and max(ids) >= len(has):  # a row this handle has not seen: read the flags again
            self._presence.pop(table, None)
            has = self._present(table)
        return [Hit(int(i), float(s), has[i]) for i, s in zip(ids, scores, strict=True)]

    def _present(self, table: str) -> list[tuple[str, ...]]:
        """Per id, the modalities that row has (read once per table: a few bytes a row)."""
        if table not in self._presence:
            flags = self._flags(table)
            data = self._table(table).search().select(["id", *flags]).limit(None).to_arrow()
            out: list[tuple[str, ...]] = [()] * (max(data["id"].to_pylist(), default=-1) + 1)
            columns = {f: data[f].to_pylist() for f in flags}
            shared: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple per combination, not per row
            for n, i in enumerate(data["id"].to_pylist()):
                has = present({f: columns[f][n] for f in flags})
                out[i] = shared.setdefault(has, has)
            # Set before the cache entry: a concurrent fetch that finds the entry reads this.
            self._contiguous[table] = len(out) == len(data)
            self._presence[table] = out
        return self._presence[table]

    def _probes(self, table: str) -> int:
        """Partitions to probe: the share of the partitions the index was built with (rows added
        since only join existing partitions, so this share of today's count is an upper bound)."""
        if table not in self._nprobes:
            self._nprobes[table] = max(1, math.ceil(_PROBE_SHARE * _partitions(self.count(table))))
        return self._nprobes[table]

    def lexical(self, table: str, modality: str, text: str, k: int) -> list[Hit]:
        if not text.strip():
            return []
        query = self._table(table).search(text, query_type="fts", fts_columns=f"{modality}_text")
        found = query.limit(k).select(["id", "_score"]).to_arrow()
        return self._hits(table, found["id"].to_pylist(), found["_score"].to_pylist())

    def fetch(self, table: str, ids: list[int]) -> dict[int, StoredRow]:
        if not ids:
            return {}
        columns = ["id", "info", *(f"{m}_text" for m in MODALITIES)]
        tbl = self._table(table)
        # Rows are only appended and compaction keeps their order, so a row's offset is its id: a
        # take by offset reads those rows directly; the id check keeps a lookup for any other table.
        self._present(table)
        offsets = [int(i) for i in ids] if self._contiguous[table] else []
        out = tbl.take_offsets(offsets).select(columns).to_arrow().to_pylist() if offsets else []
        if sorted(int(r["id"]) for r in out) != sorted(int(i) for i in ids):
            where = f"id IN ({', '.join(str(int(i)) for i in ids)})"
            out = tbl.search().where(where).select(columns).limit(len(ids)).to_arrow().to_pylist()
        return {
            int(r["id"]): StoredRow(info=r["info"], texts={m: r[f"{m}_text"] for m in MODALITIES})
            for r in out
        }

    def count(self, table: str) -> int:
        return int(self._table(table).count_rows())

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        """Every stored row (id, info, texts), in id order: a rebuild reads the segments back."""
        columns = ["id", "info", *(f"{m}_text" for m in MODALITIES)]
        data = self._table(table).to_arrow().select(columns).sort_by("id")
        for record_batch in data.to_batches(max_chunksize=4096):
            yield from record_batch.to_pylist()

    def size_bytes(self, table: str) -> int:
        from pathlib import Path

        root = Path(self.uri) / f"{table}.lance"
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _partitions(rows: int) -> int:
    """IVF partitions for a table of ``rows``: sqrt(rows), lance's usual choice."""
    return max(1, int(math.sqrt(rows)))
