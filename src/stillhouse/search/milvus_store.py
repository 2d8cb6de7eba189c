"""The scale-out engine: Milvus through ``pymilvus.MilvusClient`` (a server, a cluster, or milvus-lite).

``uri`` is a Milvus server (``http://host:19530``) or a local ``*.db`` file, which pymilvus opens
with milvus-lite. Each channel's text has a BM25 function writing a sparse vector; the dense columns
use a FLAT index on milvus-lite (exact, as LanceDB below its threshold) and HNSW on a server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from stillhouse.errors import ConflictError, MissingDependencyError, NotFoundError
from stillhouse.search.segments import MAX_CHANNEL_CHARS
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

ENV_TOKEN = "STILLHOUSE_MILVUS_TOKEN"
_VARCHAR_BYTES = 65_535
_SCAN_BATCH = 1000


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise MissingDependencyError("the Milvus engine needs: pip install 'stillhouse[search]'") from exc
    return pymilvus


class MilvusStore:
    engine = "milvus"

    def __init__(self, uri: str) -> None:
        pm = _pymilvus()
        self.uri = uri
        self._lite = uri.endswith(".db")
        # A server's credentials ("user:password" or an API key) come from the environment, never
        # from the manifest, which records the URI only.
        self._client = pm.MilvusClient(uri, token=os.environ.get(ENV_TOKEN, ""))
        self._loaded: set[str] = set()
        self._fields: dict[str, set[str]] = {}

    def exists(self, table: str) -> bool:
        return bool(self._client.has_collection(table))

    def _require(self, table: str) -> None:
        if table not in self._loaded:
            if not self.exists(table):
                raise NotFoundError(f"no collection {table!r} at {self.uri}", field="index")
            self._client.load_collection(table)
            self._loaded.add(table)

    def _names(self, table: str) -> set[str]:
        """The collection's field names (read once: every search asks)."""
        if table not in self._fields:
            self._fields[table] = {f["name"] for f in self._client.describe_collection(table)["fields"]}
        return self._fields[table]

    def _flags(self, table: str) -> list[str]:
        """The presence flags a result carries (collections from before keyframes lack that flag)."""
        return [c for c in (*HAS_COLUMNS, KEYFRAME_FLAG) if c in self._names(table)]

    def create(self, table: str, dim: int, keyframe_dim: int | None = None) -> None:
        pm = _pymilvus()
        if self.exists(table):
            raise ConflictError(f"collection {table!r} already exists at {self.uri}", field="index")
        dt, schema = pm.DataType, self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        params = self._client.prepare_index_params()
        schema.add_field("id", dt.INT64, is_primary=True)
        schema.add_field("info", dt.VARCHAR, max_length=_VARCHAR_BYTES)
        dense_index = "FLAT" if self._lite else "HNSW"
        for m in MODALITIES:
            chars = min(_VARCHAR_BYTES, 4 * MAX_CHANNEL_CHARS)
            schema.add_field(f"{m}_text", dt.VARCHAR, max_length=chars, enable_analyzer=True)
            schema.add_field(f"{m}_sparse", dt.SPARSE_FLOAT_VECTOR)
            schema.add_field(f"has_{m}", dt.BOOL)
            schema.add_function(
                pm.Function(
                    name=f"bm25_{m}",
                    function_type=pm.FunctionType.BM25,
                    input_field_names=[f"{m}_text"],
                    output_field_names=[f"{m}_sparse"],
                )
            )
            params.add_index(field_name=f"{m}_sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        schema.add_field(KEYFRAME_FLAG, dt.BOOL)
        widths = {c: dim for c in DENSE_COLUMNS} | ({KEYFRAME: keyframe_dim} if keyframe_dim else {})
        for c, width in widths.items():
            schema.add_field(f"{c}_vec", dt.FLOAT_VECTOR, dim=width)
            extra = {} if self._lite else {"params": {"M": 16, "efConstruction": 200}}
            params.add_index(field_name=f"{c}_vec", index_type=dense_index, metric_type="COSINE", **extra)
        # Strong: a search right after an insert sees it, as with LanceDB.
        self._client.create_collection(table, schema=schema, index_params=params, consistency_level="Strong")

    def add(self, table: str, rows: RowBatch) -> None:
        if not len(rows):
            return
        self._require(table)
        data, names, keyframes = [], self._names(table), rows.has_keyframe()
        columns = [c for c in (*DENSE_COLUMNS, KEYFRAME) if f"{c}_vec" in names]
        for i, row_id in enumerate(rows.ids):
            row: dict[str, Any] = {"id": row_id, "info": rows.info[i]}
            for m in MODALITIES:
                row[f"{m}_text"], row[f"has_{m}"] = rows.texts[m][i], bool(rows.texts[m][i])
            if KEYFRAME_FLAG in names:
                row[KEYFRAME_FLAG] = keyframes[i]
            for c in columns:
                row[f"{c}_vec"] = rows.vectors[c][i].tolist()
            data.append(row)
        self._client.insert(table, data)

    def finish(self, table: str) -> None:
        """Nothing to do: Milvus indexes rows as they arrive (milvus-lite and servers alike)."""

    def dense(self, table: str, column: str, vector: np.ndarray, k: int) -> list[Hit]:
        self._require(table)
        result = self._client.search(
            table,
            data=[np.asarray(vector, dtype=np.float32).tolist()],
            anns_field=f"{column}_vec",
            limit=k,
            filter=""
            if column == COMBINED
            else f"{KEYFRAME_FLAG if column == KEYFRAME else f'has_{column}'} == true",
            output_fields=["id", *self._flags(table)],
            # HNSW explores ``ef`` candidates; at least the k asked for (FLAT ignores it).
            search_params={"metric_type": "COSINE", "params": {"ef": max(64, k)}},
        )
        return [Hit(int(h["id"]), float(h["distance"]), present(h["entity"])) for h in result[0]]

    def lexical(self, table: str, modality: str, text: str, k: int) -> list[Hit]:
        if not text.strip():
            return []
        self._require(table)
        result = self._client.search(
            table,
            data=[text],
            anns_field=f"{modality}_sparse",
            limit=k,
            output_fields=["id", *self._flags(table)],
            search_params={"metric_type": "BM25"},
        )
        # milvus-lite reports a BM25 match as a negative distance; a server as a positive score.
        return [Hit(int(h["id"]), abs(float(h["distance"])), present(h["entity"])) for h in result[0]]

    def fetch(self, table: str, ids: list[int]) -> dict[int, StoredRow]:
        if not ids:
            return {}
        self._require(table)
        fields = ["id", "info", *(f"{m}_text" for m in MODALITIES)]
        rows = self._client.query(table, ids=[int(i) for i in ids], output_fields=fields)
        return {
            int(r["id"]): StoredRow(info=r["info"], texts={m: r[f"{m}_text"] for m in MODALITIES})
            for r in rows
        }

    def count(self, table: str) -> int:
        self._require(table)
        rows = self._client.query(table, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        self._require(table)
        fields = ["id", "info", *(f"{m}_text" for m in MODALITIES)]
        iterator = self._client.query_iterator(table, batch_size=_SCAN_BATCH, filter="", output_fields=fields)
        rows: list[dict[str, Any]] = []
        while batch := iterator.next():
            rows += [dict(r) for r in batch]
        iterator.close()
        yield from sorted(rows, key=lambda r: r["id"])

    def size_bytes(self, table: str) -> int | None:
        return None  # a server does not say; milvus-lite keeps every collection in one file
