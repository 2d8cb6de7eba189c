"""``stillhouse search ingest``: video files in, segments into the index's one writer, a report out.

A producer thread analyses one video after another (:mod:`analyse`) and puts each video's segments
on a bounded queue as they are finished; the caller's thread is the index writer, embedding and
appending them, so the writer never waits on a model and a long video is written as it is analysed.
On a remote executor (Ray) the producer instead hands on each video as an actor returns it, whole
(:mod:`.remote`); the writer's side is the same.
Resumable: ``ingested.json`` in the index folder records each video written under a configuration
fingerprint (a rerun skips it; a rerun under another configuration writes a new version of the
index in which the video's new segments replace its old ones), and segments already stored are recognised by their
:func:`~stillhouse.search.segments.segment_key`, so a killed ingest resumes without duplicates.
"""

from __future__ import annotations

import json
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.executors.base import Executor, LocalExecutor
from stillhouse.progress import progress_bar
from stillhouse.search import config as cfg
from stillhouse.search.ingest import SegmentWriter, segment_writer
from stillhouse.search.segments import Segment, segment_key
from stillhouse.search.video import analyse as an
from stillhouse.search.video import decode, metadata, remote
from stillhouse.search.video.config import VIDEO_SUFFIXES, VideoIngestConfig

LEDGER = "ingested.json"
QUEUE_RUNS = 16  # runs of finished segments waiting for the writer (each a few segments)
WRITE_BATCH = 32  # segments per index append (each append is a table version to compact later)


class VideoOutcome(BaseModel):
    """One file's line in the report."""

    model_config = ConfigDict(extra="forbid")

    file: str
    status: Literal["ingested", "skipped", "failed"]
    video_id: str | None = None
    reason: str | None = None
    notes: list[str] = Field(default_factory=list)
    segments: int = 0
    duration: float = 0.0

    def __str__(self) -> str:
        what = f"{self.status} {self.file}"
        if self.status == "ingested":
            what += f" ({self.video_id}: {self.segments} segments, {self.duration:.1f} s)"
        extra = [self.reason] if self.reason else []
        return what + "".join(f"; {e}" for e in extra + self.notes)


class VideoIngestReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: str
    version: int
    outcomes: list[VideoOutcome] = Field(default_factory=list)
    added: int = 0
    replaced: int = 0  # segments of videos ingested again under another configuration, left behind
    total: int = 0
    media_seconds: float = 0.0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = Field(default_factory=dict)

    @property
    def failed(self) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def realtime(self, seconds: float | None = None) -> float:
        """Media seconds per second of work (the whole run, or one stage's ``seconds``)."""
        spent = self.seconds if seconds is None else seconds
        return self.media_seconds / spent if spent > 0 else 0.0


def discover(locations: Sequence[str | Path]) -> tuple[list[Path], list[VideoOutcome]]:
    """Video files under each location (a file, or a folder searched recursively), in name order;
    a location that does not exist or is not a video is a report entry."""
    found: list[Path] = []
    problems: list[VideoOutcome] = []
    for location in locations:
        path = Path(location).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
        else:
            reason = (
                "no such file or folder"
                if not path.exists()
                else f"not a video ({', '.join(VIDEO_SUFFIXES)})"
            )
            problems.append(VideoOutcome(file=str(path), status="skipped", reason=reason))
    return list(dict.fromkeys(p.resolve() for p in found)), problems


@dataclass
class Ledger:
    """``ingested.json``: video id -> the file, config fingerprint and segment count written."""

    path: Path
    videos: dict[str, dict]

    @classmethod
    def load(cls, index: str) -> Ledger:
        path = cfg.index_dir(index) / LEDGER
        return cls(path, json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {})

    def done(self, vid: str, fingerprint: str, file: Path, segments: int) -> None:
        self.videos[vid] = {
            "file": str(file),
            "config": fingerprint,
            "segments": segments,
            "ingested": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self._save()

    def forget(self, vids: set[str]) -> None:
        """Drop these videos (their segments are not in the version now written)."""
        self.videos = {k: v for k, v in self.videos.items() if k not in vids}
        self._save()

    def _save(self) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".ingested.", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.videos, out, indent=1)
        os.replace(tmp, self.path)

    def skip_reason(self, vid: str, fingerprint: str) -> str | None:
        entry = self.videos.get(vid)
        if entry is not None and entry["config"] == fingerprint:
            return f"already ingested from {entry['file']} with this configuration"
        return None

    def other_config(self, vid: str, fingerprint: str) -> bool:
        """Whether ``vid`` was ingested under another configuration (its segments are replaced)."""
        entry = self.videos.get(vid)
        return entry is not None and entry["config"] != fingerprint


@dataclass
class _Job:
    path: Path
    video_id: str
    duration: float
    note: str | None = None


def ingest_videos(
    name: str,
    locations: Sequence[str | Path],
    config: VideoIngestConfig | None = None,
    *,
    index: cfg.IngestConfig | None = None,
    show_progress: bool = False,
    on_media: Callable[[float], None] | None = None,
    executor: Executor | None = None,
) -> VideoIngestReport:
    """Ingest every video under ``locations`` into index ``name``; never stops at a bad file.
    ``on_media`` is told each stretch of seconds of video analysed (what a benchmark samples by).
    ``executor`` is where the analysis runs (default, or a local one: this process, streaming); on
    a remote one each video is analysed whole in an actor and written here (:mod:`.remote`)."""
    config = config or VideoIngestConfig()
    started = time.perf_counter()
    files, outcomes = discover(locations)
    with segment_writer(name, ingest=index) as writer:
        report = VideoIngestReport(index=name, version=writer.version.version, outcomes=outcomes)
        ledger = Ledger.load(name)
        jobs = _plan(files, config, ledger, report)
        _replace(jobs, config, writer, ledger, report)
        if jobs:
            _run(jobs, config, writer, ledger, report, show_progress, on_media, executor)
        report.total = writer.finish()
    report.seconds = time.perf_counter() - started
    return report


def _plan(
    files: list[Path], config: VideoIngestConfig, ledger: Ledger, report: VideoIngestReport
) -> list[_Job]:
    """The files still to ingest (probed, so a corrupt one is reported before any work)."""
    jobs = []
    for path in files:
        try:
            vid = metadata.video_id(path, metadata.read_sidecar(path))
            skip = ledger.skip_reason(vid, config.fingerprint())
            if skip is None:
                jobs.append(_Job(path, vid, decode.probe(path).duration))
                continue
            report.outcomes.append(VideoOutcome(file=str(path), status="skipped", video_id=vid, reason=skip))
        except Exception as exc:  # noqa: BLE001  (any unreadable file is a report line, never a stop)
            report.outcomes.append(VideoOutcome(file=str(path), status="failed", reason=_why(exc)))
    return jobs


def _replace(
    jobs: list[_Job],
    config: VideoIngestConfig,
    writer: SegmentWriter,
    ledger: Ledger,
    report: VideoIngestReport,
) -> None:
    """Videos ingested before under another configuration: the ingest goes on in a new version of
    the index without their old segments (the old version keeps them), never mixing the two."""
    again = {j.video_id for j in jobs if ledger.other_config(j.video_id, config.fingerprint())}
    if not again:
        return
    before = writer.version.version
    dropped = writer.replace(again)
    ledger.forget(again)
    report.version = writer.version.version
    report.replaced = dropped
    for job in jobs:
        if job.video_id in again:
            job.note = (
                f"ingested before with another configuration: version {report.version} replaces its "
                f"segments (version {before} keeps them)"
            )


def _run(
    jobs: list[_Job],
    config: VideoIngestConfig,
    writer: SegmentWriter,
    ledger: Ledger,
    report: VideoIngestReport,
    show_progress: bool,
    on_media: Callable[[float], None] | None = None,
    executor: Executor | None = None,
) -> None:
    context = an.Context(config, cfg.index_dir(writer.name) / "keyframes")
    results: queue.Queue = queue.Queue(QUEUE_RUNS)
    stop = threading.Event()
    total = sum(j.duration for j in jobs)
    with progress_bar("ingesting video", round(total) or None, disable=not show_progress) as (bar, task):

        def media(seconds: float) -> None:
            bar.update(task, advance=seconds)
            if on_media is not None:
                on_media(seconds)

        context.on_media = media
        if executor is None or isinstance(executor, LocalExecutor):
            target, args = _produce, (jobs, context, results, stop)
        else:
            target, args = remote.produce, (jobs, context, lambda item: _put(results, item, stop), executor)
        producer = threading.Thread(target=target, args=args, name="analyse", daemon=True)
        producer.start()
        try:
            for _ in _drain(results, writer, ledger, context, report):
                bar.update(task, info=f"{len(report.outcomes)} files done")
        finally:
            stop.set()
            context.workers.close()
    report.stage_seconds = {k: round(v, 3) for k, v in sorted(context.clock.seconds.items())}


def _drain(
    results: queue.Queue,
    writer: SegmentWriter,
    ledger: Ledger,
    context: an.Context,
    report: VideoIngestReport,
) -> Iterator[None]:
    """The writer's loop: each video's finished segments appended WRITE_BATCH at a time, then its
    end recorded; yields after each video."""
    stored = writer.keys()  # once: each video's new keys are added as it is written
    written: dict[Path, tuple[int, int]] = {}  # per file: segments analysed, of them new
    pending: list[Segment] = []  # finished segments of the current video, not yet appended
    for job, item in _consume(results):
        if isinstance(item, list):
            pending += item
            if len(pending) >= WRITE_BATCH:
                _add(job, pending, writer, stored, context, written)
                pending = []
            continue
        if pending:
            _add(job, pending, writer, stored, context, written)
            pending = []
        _write(job, item, ledger, context, report, written.pop(job.path, (0, 0)))
        yield


class _Stopped(Exception):
    """The writer has stopped: the analysis of the current video is abandoned."""


def _produce(jobs: list[_Job], context: an.Context, results: queue.Queue, stop: threading.Event) -> None:
    """Analyse each video, putting its finished segments on the queue as they come, then its end."""
    for job in jobs:
        if stop.is_set():
            break

        def emit(segments: list[Segment], job: _Job = job) -> None:
            if not _put(results, (job, segments), stop):
                raise _Stopped

        try:
            item: an.Analysis | Exception = an.analyse(job.path, context, emit)
        except _Stopped:
            return
        except Exception as exc:  # noqa: BLE001  (reported for this file; the next one still runs)
            item = exc
        if not _put(results, (job, item), stop):
            return
    _put(results, None, stop)


def _put(results: queue.Queue, item: object, stop: threading.Event) -> bool:
    """Hand a result to the writer unless it has stopped (then nobody would ever take it)."""
    while not stop.is_set():
        try:
            results.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _consume(results: queue.Queue) -> Iterator[tuple[_Job, list[Segment] | an.Analysis | Exception]]:
    while (item := results.get()) is not None:
        if isinstance(item, Exception):  # the remote producer's executor failed
            raise item
        yield item


def _add(
    job: _Job,
    segments: list[Segment],
    writer: SegmentWriter,
    stored: set[str],
    context: an.Context,
    written: dict[Path, tuple[int, int]],
) -> None:
    """Write a run of a video's finished segments (those not stored by an earlier, killed run)."""
    with context.clock.time("index write"):
        fresh = [s for s in segments if segment_key(s) not in stored]
        writer.add(fresh)
        stored.update(segment_key(s) for s in fresh)
    seen, new = written.get(job.path, (0, 0))
    written[job.path] = (seen + len(segments), new + len(fresh))


def _write(
    job: _Job,
    result: an.Analysis | Exception,
    ledger: Ledger,
    context: an.Context,
    report: VideoIngestReport,
    written: tuple[int, int],
) -> None:
    """A video's end: recorded in the ledger and the report (its segments are already written)."""
    seen, new = written
    report.added += new
    if isinstance(result, Exception):
        reason = _why(result)
        if new:
            reason += f" ({new} segments before it were written)"
        report.outcomes.append(
            VideoOutcome(file=str(job.path), status="failed", video_id=job.video_id, reason=reason)
        )
        return
    ledger.done(result.video_id, context.config.fingerprint(), job.path, result.segments)
    notes = [job.note] if job.note else []
    notes += result.notes
    if new < seen:
        notes.append(f"{seen - new} segments were already stored (resumed)")
    report.media_seconds += result.duration
    report.outcomes.append(
        VideoOutcome(
            file=str(job.path),
            status="ingested",
            video_id=result.video_id,
            notes=notes,
            segments=result.segments,
            duration=round(result.duration, 2),
        )
    )


def _why(exc: Exception) -> str:
    """A one-line reason: av's errors carry the FFmpeg message, ours their own."""
    text = str(exc).strip() or type(exc).__name__
    return f"unreadable: {text}" if type(exc).__module__.startswith("av") else text
