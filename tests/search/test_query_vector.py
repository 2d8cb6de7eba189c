"""A search embeds its query once: the fast router's vector is reused when the index has the same
encoder, and never when it has another."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.search.conftest import tiny_router

from stillhouse.models.embeddings import HashingEmbedder
from stillhouse.search import config as cfg
from stillhouse.search.engine import SearchEngine, SearchRequest
from stillhouse.search.ingest import add_segments

pytest.importorskip("lancedb")

QUERY = "grand piano applause"


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every text list any hashing embedder is asked to embed."""
    calls: list[list[str]] = []
    original = HashingEmbedder.embed

    def counting(self: HashingEmbedder, texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return original(self, texts)

    monkeypatch.setattr(HashingEmbedder, "embed", counting)
    return calls


def _search(router: Path | None = None, weights: dict | None = None):  # type: ignore[no-untyped-def]
    request = SearchRequest(query=QUERY, index="idx", router=str(router) if router else None, weights=weights)
    return SearchEngine().search(request)


def test_the_router_vector_is_reused_by_an_index_with_the_same_encoder(
    home: Path, segment_file: Path, tmp_path: Path, embedded: list[list[str]]
):
    add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing:64"))  # tiny_router's
    router = tiny_router(tmp_path / "router")
    embedded.clear()
    routed = _search(router)
    assert embedded.count([QUERY]) == 1
    # The same weights given as fixed weights (no router embedding): the index embeds the query
    # itself, and the ranking is the same as with the shared vector.
    fixed = _search(weights=routed.weights)
    assert embedded.count([QUERY]) == 2
    assert [r.model_dump() for r in routed.results] == [r.model_dump() for r in fixed.results]
    assert routed.results[0].video_id == "concert"


def test_an_index_with_another_encoder_embeds_the_query_itself(
    home: Path, segment_file: Path, tmp_path: Path, embedded: list[list[str]]
):
    add_segments("idx", segment_file, ingest=cfg.IngestConfig(embedder="hashing:32"))  # not the router's 64
    router = tiny_router(tmp_path / "router")
    embedded.clear()
    out = _search(router)
    assert embedded.count([QUERY]) == 2  # once by the router (64-d), once for the 32-d index
    assert out.results
