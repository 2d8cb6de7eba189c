"""Both engines in a temporary folder: the same segments give the same ranking; versions; bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.search.conftest import SEGMENTS, write_segments

from stillhouse.errors import ConflictError, NotFoundError
from stillhouse.search import config as cfg
from stillhouse.search.engine import SearchRequest, search
from stillhouse.search.ingest import add_segments, rebuild

HASHING = cfg.IngestConfig(embedder="hashing")
QUERIES = [
    ("grand piano applause", "0.05,0.8,0.05,0.1"),
    ("quarterly earnings balance sheet", "0.05,0.05,0.8,0.1"),
    ("red car on the coastal highway", "0.8,0.1,0.05,0.05"),
    ("Ann Lee concert", "0.1,0.1,0.1,0.7"),
]

pytest.importorskip("lancedb")
pytest.importorskip("pymilvus")


def _ranking(index: str, query: str, weights: str, fusion: str = "routed") -> list[tuple[str, float]]:
    out = search(SearchRequest(query=query, index=index, weights=weights, fusion=fusion, k=6))
    return [(r.video_id, r.start) for r in out.results]


@pytest.mark.parametrize("fusion", ["routed", "rrf", "combined"])
def test_lancedb_and_milvus_lite_rank_alike(home: Path, segment_file: Path, fusion: str):
    add_segments("lance", segment_file, ingest=HASHING, engine="lancedb")
    add_segments("milvus", segment_file, ingest=HASHING, engine="milvus")
    assert (home / "search" / "milvus" / "milvus.db").exists()
    for query, weights in QUERIES:
        lance = _ranking("lance", query, weights, fusion)
        assert lance == _ranking("milvus", query, weights, fusion), query
        assert len(lance) == len(SEGMENTS) if fusion == "combined" else lance, query


def test_routed_search_finds_the_segment_through_its_channel(home: Path, segment_file: Path):
    add_segments("idx", segment_file, ingest=HASHING)
    out = search(SearchRequest(query="grand piano applause", index="idx", weights="0.05,0.8,0.05,0.1"))
    top = out.results[0]
    assert (top.video_id, top.start, top.end) == ("concert", 0.0, 8.0)
    assert top.scores["visual"] is None and top.scores["audio"] == 1.0  # it has no visual channel
    assert top.evidence["audio"] == "grand piano music"
    assert out.weights == pytest.approx(
        {"visual": 0.05, "audio": 0.8, "transcription": 0.05, "metadata": 0.1}
    )
    assert out.router == "fixed"
    assert set(out.timings_ms.model_dump()) == {"route", "retrieve", "total"}


def test_a_bad_line_is_reported_and_loses_nothing_already_indexed(
    home: Path, tmp_path: Path, segment_file: Path
):
    first = add_segments("idx", segment_file, ingest=HASHING)
    assert (first.added, first.total, first.problems) == (6, 6, [])
    more = write_segments(
        tmp_path / "more.jsonl",
        [
            {"video_id": "new", "start": 0, "end": 5, "visual": "a lighthouse in fog"},
            '{"video_id": "broken", "start": ',
            {"video_id": "new", "start": 9, "end": 3, "visual": "backwards"},
            {"video_id": "new", "start": 5, "end": 10, "audio": "foghorn"},
        ],
    )
    report = add_segments("idx", more)
    assert (report.added, report.total) == (2, 8)
    assert [(p.line, p.field) for p in report.problems] == [(2, "segment"), (3, "segment")]
    assert "invalid JSON" in report.problems[0].reason and "before start" in report.problems[1].reason
    videos = {
        r.video_id for r in search(SearchRequest(query="fog", index="idx", weights="1,1,1,1", k=20)).results
    }
    assert videos >= {"new", "drive", "concert", "lecture"}


@pytest.mark.parametrize("engine", ["lancedb", "milvus"])
def test_a_rebuild_with_another_config_is_a_new_version_and_the_old_one_stays(
    home: Path, segment_file: Path, engine: str
):
    add_segments("idx", segment_file, ingest=HASHING, engine=engine)
    with pytest.raises(ConflictError, match="rebuild"):
        add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing:64"))
    report = rebuild("idx", cfg.IngestConfig(embedder="hashing:64"))
    assert (report.version, report.total) == (2, 6)
    manifest = cfg.require_manifest("idx")
    assert [v.version for v in manifest.versions] == [1, 2]
    assert [v.models["embedder"] for v in manifest.versions] == ["hashing-256", "hashing-64"]
    assert (
        manifest.versions[0].config.embedder == "hashing"
        and manifest.current().config.embedder == "hashing:64"
    )
    on_disk = json.loads((home / "search" / "idx" / "manifest.json").read_text())
    assert on_disk["versions"][1]["models"]["dim"] == "64"
    old = search(SearchRequest(query="piano", index="idx", weights="0,1,0,0", version=1))
    new = search(SearchRequest(query="piano", index="idx", weights="0,1,0,0"))
    assert old.results[0].video_id == new.results[0].video_id == "concert"
    with pytest.raises(NotFoundError, match="no version 3"):
        search(SearchRequest(query="piano", index="idx", version=3, weights="1,1,1,1"))


def test_an_index_cannot_change_engine_and_a_missing_one_is_not_found(home: Path, segment_file: Path):
    add_segments("idx", segment_file, ingest=HASHING)
    with pytest.raises(ConflictError, match="cannot move"):
        add_segments("idx", segment_file, engine="milvus")
    with pytest.raises(NotFoundError, match="no search index 'nope'"):
        search(SearchRequest(query="x", index="nope", weights="1,1,1,1"))


def test_a_second_writer_is_refused(home: Path, segment_file: Path):
    with cfg.writer_lock("idx"), pytest.raises(ConflictError, match="another process"):
        add_segments("idx", segment_file, ingest=HASHING)


def test_lancedb_builds_ivf_flat_past_its_threshold_compacts_and_still_finds_the_segment(
    home: Path, tmp_path: Path
):
    rows = [
        {"video_id": f"v{i}", "start": 0, "end": 10, "visual": f"scene {i} with object{i} and colour{i % 7}"}
        for i in range(300)
    ]
    path = write_segments(tmp_path / "many.jsonl", rows)
    add_segments("big", path, ingest=cfg.IngestConfig(embedder="hashing:64", vector_index_min_rows=256))
    from stillhouse.search.lance_store import LanceStore

    manifest = cfg.require_manifest("big")
    table = LanceStore(manifest.uri, vector_index_min_rows=256)._table(manifest.current().table)
    kinds = {tuple(i.columns): i.index_type for i in table.list_indices()}
    assert kinds[("visual_vec",)] == "IvfFlat" and kinds[("combined_vec",)] == "IvfFlat"
    assert kinds[("visual_text",)] == "FTS" and kinds[("id",)] == "BTree"
    assert kinds[("has_visual",)] == "Bitmap" and kinds[("has_metadata",)] == "Bitmap"
    assert table.stats()["fragment_stats"]["num_fragments"] == 1  # two batches of rows, compacted
    out = search(SearchRequest(query="object123", index="big", weights="1,0,0,0", k=3))
    assert out.results[0].video_id == "v123"


def _rows(ids: list[int], visual: list[str], audio: list[str], dim: int = 8):  # type: ignore[no-untyped-def]
    import numpy as np

    from stillhouse.search.store import DENSE_COLUMNS, RowBatch

    vectors = {c: np.eye(dim, dtype=np.float32)[[i % dim for i in ids]] for c in DENSE_COLUMNS}
    texts = {"visual": visual, "audio": audio, "transcription": [""] * len(ids), "metadata": [""] * len(ids)}
    return RowBatch(ids=ids, info=[json.dumps({"n": i}) for i in ids], texts=texts, vectors=vectors)


def test_lancedb_hits_carry_each_rows_modalities_and_fetch_finds_ids_that_are_not_offsets(tmp_path: Path):
    import numpy as np

    from stillhouse.search.lance_store import LanceStore

    store = LanceStore(str(tmp_path / "lance"), vector_index_min_rows=10_000)
    store.create("t", dim=8)
    store.add("t", _rows([5, 2], ["a lighthouse", ""], ["foghorn", "foghorn at sea"]))
    store.finish("t")
    assert {h.id: h.has for h in store.lexical("t", "audio", "foghorn", 5)} == {
        5: ("visual", "audio"),
        2: ("audio",),
    }
    # ids 5 and 2 are not the rows' offsets 0 and 1: fetch finds them by id all the same
    assert {i: json.loads(r.info)["n"] for i, r in store.fetch("t", [2, 5]).items()} == {2: 2, 5: 5}
    store.add("t", _rows([0, 1, 3, 4, 6], ["", "", "", "", "a pier"], ["", "", "", "", ""]))
    store.finish("t")  # now 0..6: a take by offset; row 6, added after the first search, has its flags
    hits = store.dense("t", "visual", np.eye(8, dtype=np.float32)[6], 1)
    assert [(h.id, h.has) for h in hits] == [(6, ("visual",))]
    assert {i: json.loads(r.info)["n"] for i, r in store.fetch("t", [6, 0, 4]).items()} == {6: 6, 0: 0, 4: 4}
