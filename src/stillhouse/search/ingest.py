"""Writing an index: ``add-segments`` (append to the current version) and ``rebuild`` (a new one).

Good lines are embedded and added in batches as the file streams; bad lines are reported with
their line number and never stop the good ones. Rows are only appended, so a failure part-way
loses nothing already indexed (LanceDB keeps every write as a table version).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import ConflictError
from stillhouse.progress import progress_bar
from stillhouse.search import config as cfg
from stillhouse.search.segments import (
    Segment,
    SegmentProblem,
    channel_problem,
    iter_segments,
    segment_key,
)
from stillhouse.search.store import COMBINED, KEYFRAME, RowBatch, Store, open_store, placeholder
from stillhouse.tasks.video_router.prompt import MODALITIES

if TYPE_CHECKING:
    from stillhouse.chat import ChatModel
    from stillhouse.models.embeddings import Embedder
    from stillhouse.models.image_embeddings import ImageTextEmbedder

BATCH = 256
_INFO_FIELDS = ("video_id", "start", "end", "metadata", "keyframe", "media")


class AddReport(BaseModel):
    """What an ``add-segments`` or ``rebuild`` did."""

    model_config = ConfigDict(extra="forbid")

    index: str
    version: int
    added: int = 0
    total: int = 0
    seconds: float = 0.0
    problems: list[SegmentProblem] = Field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.added / self.seconds if self.seconds > 0 else 0.0


def segment_rows(
    segments: list[Segment], first_id: int, embedder: Embedder, image: ImageTextEmbedder | None = None
) -> RowBatch:
    """Rows for a batch: each channel embedded in one call, a placeholder where a channel is absent;
    with an image model, each readable keyframe embedded too."""
    rows = RowBatch(
        ids=list(range(first_id, first_id + len(segments))),
        info=[json.dumps(s.model_dump(include=set(_INFO_FIELDS)), ensure_ascii=False) for s in segments],
    )
    for m in MODALITIES:
        rows.texts[m] = [s.text(m) for s in segments]
        rows.vectors[m] = _embed_some(rows.texts[m], embedder)
    rows.vectors[COMBINED] = _embed_some([s.combined_text() for s in segments], embedder)
    if image is not None:
        rows.vectors[KEYFRAME] = np.tile(placeholder(image.dim), (len(segments), 1))
        framed = [i for i, s in enumerate(segments) if s.keyframe]
        vectors, readable = image.embed_images([str(segments[i].keyframe) for i in framed])
        rows.keyframes = [False] * len(segments)
        for j, i in enumerate(framed):
            if readable[j]:
                rows.vectors[KEYFRAME][i], rows.keyframes[i] = vectors[j], True
    return rows


def _embed_some(texts: list[str], embedder: Embedder) -> np.ndarray:
    out = np.tile(placeholder(embedder.dim), (len(texts), 1))
    filled = [i for i, t in enumerate(texts) if t]
    if filled:
        out[filled] = embedder.embed([texts[i] for i in filled])
    return out


def segment_from_row(row: dict[str, object]) -> Segment:
    """A stored row back to its segment (what a rebuild re-ingests)."""
    info = json.loads(str(row["info"]))
    texts = {m: row.get(f"{m}_text") or None for m in ("visual", "audio", "transcription")}
    return Segment.model_validate({**info, **texts})


def model_versions(
    embedder: Embedder, store: Store, image: ImageTextEmbedder | None = None
) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    package = "lancedb" if store.engine == "lancedb" else "pymilvus"
    try:
        engine_version = version(package)
    except PackageNotFoundError:
        engine_version = "unknown"
    out = {"embedder": embedder.name, "dim": str(embedder.dim), "engine": f"{package} {engine_version}"}
    if image is not None:
        out |= {"image_embedder": image.name, "image_dim": str(image.dim)}
    return out


def load_image(config: cfg.IngestConfig) -> ImageTextEmbedder | None:
    """The configured image-text model, if any."""
    if config.image_embedder is None:
        return None
    from stillhouse.models.image_embeddings import load_image_embedder

    return load_image_embedder(config.image_embedder)


def open_or_create(name: str, engine: cfg.Engine | None, uri: str | None) -> cfg.Manifest:
    """The index's manifest; a new index is created with ``engine`` (LanceDB by default)."""
    manifest = cfg.load_manifest(name)
    if manifest is None:
        chosen = engine or "lancedb"
        return cfg.Manifest(
            name=cfg.check_name(name), engine=chosen, uri=uri or cfg.default_uri(name, chosen)
        )
    if (engine and engine != manifest.engine) or (uri and uri != manifest.uri):
        raise ConflictError(
            f"index {name!r} lives in {manifest.engine} at {manifest.uri}; it cannot move (use another name)",
            field="index",
        )
    return manifest


def store_for(manifest: cfg.Manifest, config: cfg.IngestConfig) -> Store:
    """The engine of an index, writing under ``config`` (its vector-index threshold)."""
    return open_store(manifest.engine, manifest.uri, vector_index_min_rows=config.vector_index_min_rows)


@dataclass
class SegmentWriter:
    """The one writer of an index's current version, held under its lock: ``add`` embeds a batch
    and appends it (rows are numbered on from the table's count), ``finish`` updates its indexes."""

    name: str
    manifest: cfg.Manifest
    version: cfg.IndexVersion
    store: Store
    embedder: Embedder
    image: ImageTextEmbedder | None = None  # the keyframes' image-text model, when configured

    def add(self, segments: list[Segment]) -> int:
        if segments:
            self.store.add(
                self.version.table,
                segment_rows(segments, self.store.count(self.version.table), self.embedder, self.image),
            )
        return len(segments)

    def replace(self, video_ids: set[str]) -> int:
        """Write a new version from now on (same configuration), holding the current version's
        segments except those of ``video_ids``: those videos are about to be ingested again under
        another video configuration, and a version's rows are only ever appended. The old version
        stays queryable (``--version``). Returns how many segments were left behind."""
        source = self.version
        self.version = self.manifest.add_version(source.config, dict(source.models))
        self.store.create(self.version.table, self.embedder.dim, self.image.dim if self.image else None)
        cfg.save_manifest(self.manifest)
        dropped = 0
        batch: list[Segment] = []
        for row in self.store.scan(source.table):
            segment = segment_from_row(row)
            if segment.video_id in video_ids:
                dropped += 1
                continue
            batch.append(segment)
            if len(batch) >= BATCH:
                self.add(batch)
                batch = []
        self.add(batch)
        return dropped

    def keys(self) -> set[str]:
        """The :func:`~stillhouse.search.segments.segment_key` of every stored segment."""
        return {segment_key(segment_from_row(r)) for r in self.store.scan(self.version.table)}

    def finish(self) -> int:
        self.store.finish(self.version.table)
        self.version.segments = self.store.count(self.version.table)
        cfg.save_manifest(self.manifest)
        return self.version.segments


@contextmanager
def segment_writer(
    name: str,
    *,
    ingest: cfg.IngestConfig | None = None,
    engine: cfg.Engine | None = None,
    uri: str | None = None,
) -> Iterator[SegmentWriter]:
    """The writer of the current version of ``name`` (created with ``ingest`` if new).

    An existing index keeps its configuration: another ``ingest`` is refused here, since mixing two
    embedders in one table would make its scores meaningless; :func:`rebuild` makes the new version.
    """
    from stillhouse.models.embeddings import load_embedder

    with cfg.writer_lock(name):
        manifest = open_or_create(name, engine, uri)
        if manifest.versions and ingest is not None and ingest != manifest.current().config:
            raise ConflictError(
                f"index {name!r} version {manifest.current().version} was built with "
                f"{manifest.current().config.model_dump()}; rebuild it for another configuration",
                field="index",
            )
        chosen = manifest.current().config if manifest.versions else (ingest or cfg.IngestConfig())
        embedder, image = load_embedder(chosen.embedder), load_image(chosen)
        store = store_for(manifest, chosen)
        if not manifest.versions:
            version = manifest.add_version(chosen, model_versions(embedder, store, image))
            store.create(version.table, embedder.dim, image.dim if image else None)
            cfg.save_manifest(manifest)
        version = manifest.current()
        _check_models(version, embedder)
        yield SegmentWriter(name, manifest, version, store, embedder, image)


def add_segments(
    name: str,
    location: str | Path,
    *,
    ingest: cfg.IngestConfig | None = None,
    engine: cfg.Engine | None = None,
    uri: str | None = None,
    show_progress: bool = False,
    visual_keywords: str | ChatModel | None = None,
) -> AddReport:
    """Index the good segments of a JSONL file/folder into the current version of ``name``
    (a new index gets version 1 with ``ingest``, defaults if None; see :func:`segment_writer`).

    ``visual_keywords`` (a model spec or a loaded model) labels each segment's keyframe with the
    image-keywords task and indexes the keywords as (or after) its visual text; a keyframe that
    cannot be read or labelled is that line's problem.
    """
    with segment_writer(name, ingest=ingest, engine=engine, uri=uri) as writer:
        report = AddReport(index=name, version=writer.version.version)
        enrich = _keyword_labeller(visual_keywords)
        if enrich is not None:
            writer.version.models.setdefault("visual_keywords", enrich.model.name)
        segments = iter_segments(
            location, enrich=enrich.enrich if enrich else None, keyframes_embedded=writer.image is not None
        )
        models = (writer.embedder, writer.image)
        _ingest(writer.store, writer.version, segments, models, report, show_progress=show_progress)
        writer.version.segments = report.total
        cfg.save_manifest(writer.manifest)
    return report


def _keyword_labeller(model: str | ChatModel | None):  # -> VisualKeywords | None
    if model is None:
        return None
    from stillhouse.search.visual_keywords import VisualKeywords

    if isinstance(model, str):
        from stillhouse.models import load_model

        model = load_model(model)
    return VisualKeywords(model)


def _check_models(version: cfg.IndexVersion, embedder: Embedder) -> None:
    recorded = version.models.get("embedder")
    if recorded != embedder.name:
        raise ConflictError(
            f"index version {version.version} was embedded with {recorded!r}, but {version.config.embedder!r} "
            f"now loads {embedder.name!r}; rebuild the index",
            field="embedder",
        )


def _ingest(
    store: Store,
    version: cfg.IndexVersion,
    items: Iterable[Segment | SegmentProblem],
    models: tuple[Embedder, ImageTextEmbedder | None],
    report: AddReport,
    *,
    show_progress: bool,
) -> None:
    started = time.perf_counter()
    next_id = store.count(version.table)
    with progress_bar(f"indexing into {version.table}", None, disable=not show_progress) as (bar, task):
        for batch in _batches(items, report):
            store.add(version.table, segment_rows(batch, next_id, *models))
            next_id += len(batch)
            report.added += len(batch)
            bar.update(task, completed=report.added, info=f"{len(report.problems)} bad lines")
    store.finish(version.table)
    report.total = store.count(version.table)
    report.seconds = time.perf_counter() - started


def _batches(items: Iterable[Segment | SegmentProblem], report: AddReport) -> Iterator[list[Segment]]:
    batch: list[Segment] = []
    for item in items:
        if isinstance(item, SegmentProblem):
            report.problems.append(item)
            continue
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _stored_segments(
    store: Store, table: str, *, keyframes_embedded: bool
) -> Iterator[Segment | SegmentProblem]:
    """A version's segments for another; one with only a keyframe is a problem (row N) where the
    new version has no image embedder to index it by."""
    for row, stored in enumerate(store.scan(table), start=1):
        segment = segment_from_row(stored)
        reason = channel_problem(segment, keyframes_embedded=keyframes_embedded)
        if reason is None:
            yield segment
        else:
            yield SegmentProblem(file=table, line=row, field="segment", reason=reason)


def rebuild(name: str, ingest: cfg.IngestConfig, *, show_progress: bool = False) -> AddReport:
    """A new version of ``name`` built with ``ingest`` from the current version's segments; the old
    version stays queryable (``--version``)."""
    from stillhouse.models.embeddings import load_embedder

    with cfg.writer_lock(name):
        manifest = cfg.require_manifest(name)
        source = manifest.current()
        embedder, image = load_embedder(ingest.embedder), load_image(ingest)
        store = store_for(manifest, source.config)
        rows = _stored_segments(store, source.table, keyframes_embedded=image is not None)
        version = manifest.add_version(ingest, model_versions(embedder, store, image))
        target = store_for(manifest, ingest)
        target.create(version.table, embedder.dim, image.dim if image else None)
        report = AddReport(index=name, version=version.version)
        _ingest(target, version, rows, (embedder, image), report, show_progress=show_progress)
        version.segments = report.total
        cfg.save_manifest(manifest)
    return report
