"""Search ingest on a remote executor (Ray): each video file is one item, analysed in an actor.

An actor keeps one :class:`~stillhouse.search.video.analyse.Context` (Whisper, YAMNet, OCR load on
its first video, once per actor) and returns the video's finished segments as plain data, with its
keyframe images as bytes: the driver writes the keyframes under the index folder, embeds and
appends the segments and records the ledger, in input order, so there is still one writer and
resume works unchanged. The files must be readable at the same path on every node (one machine,
or a shared filesystem). A killed actor's video is sent to a fresh one by the executor.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillhouse.executors.base import Executor, Stage
from stillhouse.search.segments import Segment
from stillhouse.search.video import analyse as an
from stillhouse.search.video.config import VideoIngestConfig


@dataclass
class Analysed:
    """What an actor returns for one video: its segments (those finished before a failure, if it
    failed), the analysis or the failure's one-line reason, its stage seconds and keyframe files
    (path relative to the keyframe folder -> JPEG bytes)."""

    segments: list[Segment]
    analysis: an.Analysis | None
    error: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    keyframes: dict[str, bytes] = field(default_factory=dict)


class RemoteFailure(Exception):
    """A video whose analysis failed in an actor; its message is the reason a local run gives."""


class AnalysisWorker:
    """An actor's analysis state: pickled as its configuration only; the context (models, threads,
    a private keyframe folder) is made on the first video and kept for the rest."""

    def __init__(self, config: VideoIngestConfig) -> None:
        self.config = config
        self._context: an.Context | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "_context": None}

    def context(self) -> an.Context:
        if self._context is None:
            folder = Path(tempfile.mkdtemp(prefix="stillhouse-keyframes-"))
            self._context = an.Context(self.config, folder)
        return self._context


def analyse_remotely(worker: AnalysisWorker, path: str) -> Analysed:
    """In an actor: one video analysed whole (a failure is returned, not raised: it is the video's)."""
    from stillhouse.search.video.pipeline import _why

    context = worker.context()
    context.clock = an.StageClock()
    segments: list[Segment] = []
    analysis, error = None, None
    try:
        analysis = an.analyse(Path(path), context, segments.extend)
    except Exception as exc:  # noqa: BLE001  (reported for this file, as a local run does)
        error = _why(exc)
    return Analysed(
        segments, analysis, error, dict(context.clock.seconds), _take_keyframes(context.keyframes)
    )


def _take_keyframes(folder: Path) -> dict[str, bytes]:
    """The keyframe files the video left in the actor's folder, read and removed."""
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    for child in folder.iterdir():  # an actor analyses many videos: its folder must not grow
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()
    return files


def ingest_stage(config: VideoIngestConfig, keyframes: Path) -> Stage[Any, Analysed]:
    """Video analysis as an executor stage: items are the pipeline's jobs (a ``path`` each), sent
    as the path; the driver's commit writes the keyframes under ``keyframes`` and points the
    segments at them. (The local executor never takes this stage: ingest_videos runs the
    streaming pipeline in this process.)"""
    worker = AnalysisWorker(config)
    return Stage(
        name="ingest",
        local=lambda job: analyse_remotely(worker, str(job.path)),
        worker=worker,
        remote=analyse_remotely,
        prepare=lambda job: str(job.path),
        commit=lambda job, done: _commit(done, keyframes),
    )


def _commit(done: Analysed, keyframes: Path) -> Analysed:
    """In the driver: the video's keyframes written where a local run writes them."""
    for rel, data in done.keyframes.items():
        target = keyframes / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    done.segments = [_moved(s, keyframes) for s in done.segments]
    done.keyframes = {}
    return done


def _moved(segment: Segment, keyframes: Path) -> Segment:
    """``segment`` with its keyframe under the driver's folder (same name inside the video's folder)."""
    if not segment.keyframe:
        return segment
    kf = Path(segment.keyframe)
    return segment.model_copy(update={"keyframe": str(keyframes / kf.parent.name / kf.name)})


def produce(
    jobs: Sequence[Any],
    context: an.Context,
    put: Callable[[object], bool],
    executor: Executor,
) -> None:
    """The pipeline's producer on a remote executor: each video's segments, then its end (the
    analysis, or a :class:`RemoteFailure`), handed to the writer through ``put`` in input order;
    ``None`` at the end, or the executor's error (the writer raises it)."""
    stage = ingest_stage(context.config, context.keyframes)
    try:
        with closing(iter(executor.map(stage, jobs))) as results:
            for job, done in zip(jobs, results, strict=False):
                _account(done, context)
                end: object = done.analysis if done.error is None else RemoteFailure(done.error)
                if done.segments and not put((job, done.segments)):
                    return
                if not put((job, end)):
                    return
    except Exception as exc:  # noqa: BLE001  (handed to the writer's thread, which raises it)
        put(exc)
        return
    put(None)


def _account(done: Analysed, context: an.Context) -> None:
    """The actor's stage seconds into the run's clock, its media seconds into the progress."""
    for stage, seconds in done.stage_seconds.items():
        context.clock.add(stage, seconds)
    if done.analysis is not None:
        context.on_media(done.analysis.duration)
