"""A query: route -> per-modality retrieval (dense and BM25) -> fusion -> results with evidence.

:class:`SearchRequest` and :class:`SearchResponse` are the wire shapes of ``stillhouse search query
--json`` and ``POST /search`` alike. :class:`SearchEngine` keeps opened stores, embedders and routers
between queries (the server holds one; the CLI makes one per command).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from stillhouse.errors import NotFoundError
from stillhouse.search import config as cfg
from stillhouse.search.evidence import evidence
from stillhouse.search.fusion import (
    MIN_WEIGHT,
    ChannelHits,
    Fused,
    FusionConfig,
    Normalisation,
    Span,
    Strategy,
    fuse,
    fuse_combined,
    merge_dense,
    merge_neighbours,
    searched,
)
from stillhouse.search.ingest import store_for
from stillhouse.search.routing import (
    FixedRouter,
    RouteLog,
    Router,
    Routing,
    parse_weights,
    resolve_router,
)
from stillhouse.search.store import COMBINED, KEYFRAME, Hit, Store
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

if TYPE_CHECKING:
    import numpy as np

    from stillhouse.models.embeddings import Embedder


class SearchRequest(BaseModel):
    """The options of one search."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    index: str
    k: int = Field(default=10, ge=1, le=200)
    fusion: Strategy = "routed"
    # "V,A,T,M" or {"visual": ...} with all four; replaces the router. Read as normalised weights.
    weights: str | dict[Modality, float] | None = None
    router: str | None = None
    version: int | None = Field(default=None, ge=1)
    merge_gap: float | None = Field(default=None, ge=0)  # seconds between segments merged into one range
    candidates: int = Field(default=50, ge=1, le=1000)  # top-K per list before fusion
    lexical_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    normalisation: Normalisation = "minmax"  # of each list's scores before fusion (fusion.py)
    # A modality weighted under this is neither searched nor fused (fusion.searched); 0: all are.
    min_weight: float = Field(default=MIN_WEIGHT, ge=0.0, le=1.0)

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: str | dict[Modality, float] | None) -> dict[Modality, float] | None:
        if value is None:
            return None
        if isinstance(value, dict):
            if set(value) != set(MODALITIES):
                raise ValueError(f"weights need exactly {', '.join(MODALITIES)}")
            value = ",".join(str(value[m]) for m in MODALITIES)
        return parse_weights(value)

    @property
    def top_k(self) -> int:
        """Each list's depth: at least ``k``, so the baseline can fill ``k`` results."""
        return max(self.k, self.candidates)


class SearchResult(BaseModel):
    """One hit. ``segment_id`` is the best segment's row id in the index version searched (a merged
    range has several); ``title``, ``keyframe`` and ``media`` are that segment's, as ingested."""

    model_config = ConfigDict(extra="forbid")

    video_id: str
    start: float
    end: float
    score: float
    scores: dict[Modality, float | None]
    evidence: dict[str, str]
    segment_id: int
    title: str | None = None
    keyframe: str | None = None
    media: str | None = None


class Timings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    route: float
    retrieve: float
    total: float


class SearchResponse(BaseModel):
    """``{"weights", "router", "reasoning", "results", "timings_ms"}``; ``weights``/``router`` are
    null for the ``combined`` baseline, which does not route; ``reasoning`` is the router's own words
    (null when it gives none, or the reason its weights were replaced when its answer was unusable)."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[Modality, float] | None
    router: str | None
    reasoning: str | None = None
    results: list[SearchResult]
    timings_ms: Timings


StageLog = Callable[[str, float], None]
"""Told each stage of a query and its milliseconds: route, embed, each channel search ("dense
audio", "lexical audio"; on their threads, so they overlap), searches (their wall time), fuse,
fetch, evidence, assemble. The benchmark's breakdown; None costs nothing."""


class _Laps:
    """Milliseconds since the previous lap, told to a :data:`StageLog` (nothing without one)."""

    def __init__(self, stages: StageLog | None) -> None:
        self.stages = stages
        self.last = time.perf_counter()

    def __call__(self, stage: str) -> float:
        now = time.perf_counter()
        if self.stages is not None:
            self.stages(stage, (now - self.last) * 1000)
        self.last = now
        return now


class SearchEngine:
    """Opened indexes, embedders and routers, reused across queries (thread-safe to share)."""

    def __init__(
        self,
        *,
        log: RouteLog | None = None,
        default_router: Router | None = None,
        threads: int = 8,
        stages: StageLog | None = None,
    ) -> None:
        """``threads``: a query's channel searches (up to 8) run on that many threads (1: one after
        another); the engines search in native code without the GIL."""
        self.log = log
        self.default_router = default_router
        self.threads = threads
        self.stages = stages
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stores: dict[tuple[str, str], Store] = {}
        self._embedders: dict[str, Embedder] = {}
        self._routers: dict[str | None, Router] = {}

    def search(self, request: SearchRequest) -> SearchResponse:
        """One search. The timings count the query only: opening the index, the embedder and the
        router happens once per engine and is left out of them."""
        manifest = cfg.require_manifest(request.index)
        version = manifest.get(request.version)
        store, embedder = self._store(manifest, version), self._embedder(version.config.embedder)
        router = None if request.fusion == "combined" else self._router(request)
        lap = _Laps(self.stages)
        started = lap.last
        routing = router.route(request.query, index=request.index) if router else None
        routed = lap("route")
        vector = query_vector(routing, version.config.embedder, embedder, request.query)
        lap("embed")
        if request.fusion == "combined":
            fused = fuse_combined(store.dense(version.table, COMBINED, vector, request.top_k))
            lap("searches")
        else:
            modalities = searched(routing.weights, request.min_weight)  # type: ignore[union-attr]
            channels = self._retrieve(store, version, request, vector, modalities)
            lap("searches")
            present = {h.id: h.has for c in channels.values() for h in (*c.dense, *c.lexical)}
            config = FusionConfig(
                strategy=request.fusion,
                lexical_weight=request.lexical_weight,
                normalisation=request.normalisation,
            )
            fused = fuse(channels, routing.weights, present, config)  # type: ignore[union-attr, arg-type]
            lap("fuse")
        retrieved = lap.last
        results = self._results(store, version.table, request, fused, lap)
        response = SearchResponse(
            weights=routing.weights if routing else None,
            router=routing.router if routing else None,
            reasoning=(routing.fallback or routing.reasoning) if routing else None,
            results=results,
            timings_ms=Timings(route=0.0, retrieve=0.0, total=0.0),
        )
        done = lap("assemble")
        response.timings_ms = Timings(
            route=(routed - started) * 1000,
            retrieve=(retrieved - routed) * 1000,
            total=(done - started) * 1000,
        )
        return response

    def segment_info(self, index: str, segment_id: int, version: int | None = None) -> dict[str, Any]:
        """What the index recorded for one segment (video id, times, metadata, keyframe, media):
        the files a console may serve are the ones named here, never a path a caller sends."""
        manifest = cfg.require_manifest(index)
        found = manifest.get(version)
        rows = self._store(manifest, found).fetch(found.table, [segment_id])
        if segment_id not in rows:
            raise NotFoundError(f"index {index!r} has no segment {segment_id}", field="segment")
        return json.loads(rows[segment_id].info)  # type: ignore[no-any-return]

    def _retrieve(
        self,
        store: Store,
        version: cfg.IndexVersion,
        request: SearchRequest,
        vector: np.ndarray,
        modalities: tuple[Modality, ...],
    ) -> dict[Modality, ChannelHits]:
        """Each of ``modalities``' dense and BM25 top-K, the searches concurrently; with an image
        model and visual searched, one more on the keyframe vectors (the query through its text
        tower) joins the visual dense list."""
        table, k = version.table, request.top_k
        calls: dict[tuple[str, str], tuple[Callable[..., list[Hit]], tuple]] = {
            (m, kind): (store.dense, (table, m, vector, k)) if kind == "dense"
            else (store.lexical, (table, m, request.query, k))
            for m in modalities
            for kind in ("dense", "lexical")
        }  # fmt: skip
        if version.config.image_embedder is not None and "visual" in modalities:
            image = self._embedder(version.config.image_embedder, image=True)
            calls[KEYFRAME, "dense"] = (store.dense, (table, KEYFRAME, image.embed([request.query])[0], k))
        if self.stages is not None:
            calls = {key: (_timed(self.stages, " ".join(key), fn), args) for key, (fn, args) in calls.items()}
        if self.threads <= 1:
            done = {key: fn(*args) for key, (fn, args) in calls.items()}
        else:
            pool = self._executor()
            futures = {key: pool.submit(fn, *args) for key, (fn, args) in calls.items()}
            done = {key: f.result() for key, f in futures.items()}
        if (KEYFRAME, "dense") in done:
            done["visual", "dense"] = merge_dense(done["visual", "dense"], done[KEYFRAME, "dense"])
        return {m: ChannelHits(dense=done[m, "dense"], lexical=done[m, "lexical"]) for m in modalities}

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="search")
            return self._pool

    def _results(
        self, store: Store, table: str, request: SearchRequest, fused: list[Fused], lap: _Laps
    ) -> list[SearchResult]:
        # Merging can join several hits into one range, so look further down the list when merging.
        head = fused[: request.k * 4 if request.merge_gap is not None else request.k]
        rows = store.fetch(table, [f.id for f in head])
        lap("fetch")
        spans, infos = [], {}
        for f in head:
            row = rows[f.id]
            info = infos[f.id] = json.loads(row.info)
            texts = {m: t for m, t in row.texts.items() if t}
            found = evidence(request.query, texts)  # type: ignore[arg-type]
            spans.append(Span(info["video_id"], info["start"], info["end"], f.score, f.scores, found, [f.id]))
        if request.merge_gap is not None:
            spans = merge_neighbours(spans, request.merge_gap)
        lap("evidence")
        return [_result(s, infos[s.ids[0]]) for s in spans[: request.k]]

    def _router(self, request: SearchRequest) -> Router:
        if request.fusion == "uniform":  # uniform weights by definition: no router is asked
            from stillhouse.search.fusion import UNIFORM

            return FixedRouter(UNIFORM)
        if request.weights is not None:
            return FixedRouter(request.weights)  # type: ignore[arg-type]  # normalised by the validator
        if request.router is None and self.default_router is not None:
            return self.default_router
        with self._lock:
            if request.router not in self._routers:
                self._routers[request.router] = resolve_router(request.router, log=self.log)
            return self._routers[request.router]

    def _store(self, manifest: cfg.Manifest, version: cfg.IndexVersion) -> Store:
        key = (manifest.engine, manifest.uri)
        with self._lock:
            if key not in self._stores:
                self._stores[key] = store_for(manifest, version.config)
            return self._stores[key]

    def _embedder(self, spec: str, *, image: bool = False) -> Embedder:
        """A text embedder, or (``image``) an image-text model whose ``embed`` is its text tower."""
        from stillhouse.models.embeddings import load_embedder
        from stillhouse.models.image_embeddings import load_image_embedder

        key = f"image:{spec}" if image else spec
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = load_image_embedder(spec) if image else load_embedder(spec)
            return self._embedders[key]


def _timed(stages: StageLog, stage: str, fn: Callable[..., list[Hit]]) -> Callable[..., list[Hit]]:
    def run(*args: Any) -> list[Hit]:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            stages(stage, (time.perf_counter() - started) * 1000)

    return run


def _result(span: Span, info: dict[str, Any]) -> SearchResult:
    title = (info.get("metadata") or {}).get("title")
    return SearchResult(
        video_id=span.video_id,
        start=span.start,
        end=span.end,
        score=round(span.score, 6),
        scores={m: None if v is None else round(v, 6) for m, v in span.scores.items()},
        evidence=span.evidence,
        segment_id=span.ids[0],
        title=None if title is None else str(title),
        keyframe=info.get("keyframe"),
        media=info.get("media"),
    )


def query_vector(routing: Routing | None, spec: str, embedder: Embedder, query: str) -> np.ndarray:
    """The query's vector for an index embedded by ``embedder`` (built from ``spec``): the router's
    own when it embedded the query with the same encoder, so a search embeds its query once."""
    from stillhouse.models.embeddings import embedder_identity

    shared = routing.vector if routing is not None else None
    if shared is not None and shared.encoder == embedder_identity(spec, embedder):
        return shared.values
    return embedder.embed([query])[0]


def search(request: SearchRequest, *, log: RouteLog | None = None) -> SearchResponse:
    """The library call: one search with a fresh engine (keep a :class:`SearchEngine` for many)."""
    return SearchEngine(log=log).search(request)


__all__ = ["Routing", "SearchEngine", "SearchRequest", "SearchResponse", "SearchResult", "search"]
