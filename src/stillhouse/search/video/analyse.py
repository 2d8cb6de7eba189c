"""One video, one decode: frames feed the cut detector and keyframe choice; audio becomes log-mel
patches that YAMNet scores in batches on a worker thread, and Whisper transcribes it in chunks on
another; keyframes go to OCR (and a captioner, when configured) in batches on a third. What they
find goes to the video's :class:`~stillhouse.search.video.assemble.Assembler`, which hands each
segment on as soon as it is final, so nothing held grows with the video's length.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stillhouse.search.segments import Segment
from stillhouse.search.video import audio_events as ae
from stillhouse.search.video import decode, metadata, scenes, transcribe
from stillhouse.search.video.assemble import INF, Assembler
from stillhouse.search.video.config import VideoIngestConfig

WHISPER_PENDING = 2  # chunks queued for Whisper before decoding waits (bounds the audio held)
OCR_BATCH = 8  # keyframes per OCR job (one recogniser call over their text boxes: Ocr.read_many)
VISUAL_PENDING = 2  # OCR jobs queued before decoding waits
SOUND_BATCH = 16  # log-mel patches (7.7 s of audio) per YAMNet job
SOUND_PENDING = 8
_HALF_PATCH = ae.PATCH_FRAMES * ae.HOP / ae.SAMPLE_RATE / 2  # a score row is timed at its patch's middle


@dataclass
class StageClock:
    """Seconds of work per stage, summed over threads (a stage's throughput is media / seconds)."""

    seconds: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


class Models:
    """The models of a run, each loaded on first use and shared by every video."""

    def __init__(self, config: VideoIngestConfig) -> None:
        self.config = config
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> object:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def _load(self, name: str) -> object:
        c = self.config
        if name == "whisper":
            return transcribe.Transcriber(c.whisper, language=c.language, vad=c.vad)
        if name == "yamnet":
            return ae.YamNet()
        if name == "ocr":
            from stillhouse.search.video.ocr import Ocr

            return Ocr()
        from stillhouse.search.video.vision import load_captioner

        return load_captioner(str(c.vision))


class Workers:
    """A thread each for Whisper, YAMNet and keyframes, so none waits on another or on decoding."""

    def __init__(self) -> None:
        self.speech = ThreadPoolExecutor(1, thread_name_prefix="whisper")
        self.sound = ThreadPoolExecutor(1, thread_name_prefix="yamnet")
        self.visual = ThreadPoolExecutor(1, thread_name_prefix="ocr")

    def close(self) -> None:
        for pool in (self.speech, self.sound, self.visual):
            pool.shutdown(cancel_futures=True)


@dataclass
class Analysis:
    """What is left of a video once its segments have been emitted: how many, and the notes."""

    video_id: str
    segments: int
    notes: list[str]
    duration: float


@dataclass
class Context:
    """What every video of a run shares: its configuration, models, worker threads, stage clock,
    the keyframe folder, and where progress (seconds of media analysed) goes."""

    config: VideoIngestConfig
    keyframes: Path
    models: Models = field(init=False)
    workers: Workers = field(default_factory=Workers)
    clock: StageClock = field(default_factory=StageClock)
    on_media: Callable[[float], None] = lambda seconds: None

    def __post_init__(self) -> None:
        self.models = Models(self.config)


def analyse(
    path: Path, context: Context, emit: Callable[[list[Segment]], None] = lambda segments: None
) -> Analysis:
    """Analyse one video file, handing each run of finished segments to ``emit`` as soon as
    nothing later can change them (raises for a file that cannot be read)."""
    config, clock, on_media = context.config, context.clock, context.on_media
    probe = decode.probe(path)
    sidecar = metadata.read_sidecar(path)
    vid = metadata.video_id(path, sidecar)
    assembly = Assembler(
        vid,
        metadata.video_metadata(path, sidecar, probe.tags),
        labels=lambda: context.models.get("yamnet").labels,  # type: ignore[attr-defined]
        audio_labels=config.audio_labels,
        audio_min_score=config.audio_min_score,
    )
    run = _VideoRun(vid, probe, context, assembly)
    run.emit = emit
    decoded = time.perf_counter()
    reported = 0.0
    items = decode.stream(
        path,
        keyframe_width=config.keyframe_width,
        transnet=config.scenes == "transnetv2",
        small_every=run.every,
    )
    for item in items:
        if isinstance(item, decode.Frame):
            run.on_frame(item)
        else:
            run.on_audio(item)
        if run.position - reported >= 1.0:
            on_media(run.position - reported)
            reported = run.position
    clock.add("decode", time.perf_counter() - decoded - run.inline_seconds)
    run.finish()
    on_media(max(0.0, run.duration - reported))
    return Analysis(vid, run.emitted, run.notes, run.duration)


def _folder(video_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", video_id)[:80]
    return f"{safe}-{hashlib.sha1(video_id.encode()).hexdigest()[:8]}"


class _VideoRun:
    def __init__(self, vid: str, probe: decode.Probe, context: Context, assembly: Assembler) -> None:
        config = context.config
        self.vid, self.probe, self.config, self.models = vid, probe, config, context.models
        self.workers, self.clock, self.keyframes = (
            context.workers,
            context.clock,
            context.keyframes / _folder(vid),
        )
        self.assembly, self.emitted = assembly, 0
        self.emit: Callable[[list[Segment]], None] = lambda segments: None
        self.planner = scenes.SegmentPlanner(config.segments)
        transnet = config.scenes == "transnetv2"
        self.every = 1 if transnet else max(1, round(probe.fps / config.scene_fps))
        self.detector = _detector(config, probe.fps / self.every)
        self.notes: list[str] = [] if probe.has_audio else ["no audio track: visual and metadata only"]
        # Work handed to the model threads, oldest first, each with what it covers: a visual job's
        # span indices, a sound job's first score time, a speech job's audio offset.
        self.frames_pending: list[tuple[int, np.ndarray]] = []
        self.visual_jobs: list[tuple[Future[list[str]], list[int]]] = []
        self.pending_patches: list[tuple[float, np.ndarray]] = []
        self.sound: list[tuple[float, Future[list[tuple[float, np.ndarray]]]]] = []
        self.speech: list[tuple[float, Future[tuple[list[transcribe.Word], list[tuple[float, str]]]]]] = []
        self.candidates: list[tuple[float, np.ndarray]] = []
        self.patches = ae.PatchStream()
        self.audio: list[np.ndarray] = []
        self.audio_start = self.audio_seconds = self.video_seconds = self.inline_seconds = 0.0
        self.frames = 0

    @property
    def position(self) -> float:
        return max(self.video_seconds, self.audio_seconds)

    @property
    def duration(self) -> float:
        return self.position or self.probe.duration

    def on_frame(self, frame: decode.Frame) -> None:
        self.frames += 1
        self.video_seconds = frame.time + 1.0 / self.probe.fps
        if self.detector is not None and frame.small is not None:
            with self._inline("scenes"):
                self.planner.add_cuts(self.detector.push(frame.small))
        if frame.candidate is not None:
            self.candidates.append((frame.time, frame.candidate))
        settled = self.planner.settled(frame.time)
        for span in settled:
            self._close(span)
        if settled:
            self._collect()

    def on_audio(self, chunk: decode.Audio) -> None:
        self.audio_seconds += len(chunk.samples) / ae.SAMPLE_RATE
        if self.config.audio_labels:
            with self._inline("log-mel"):
                self.pending_patches += self.patches.push(chunk.samples)
            if len(self.pending_patches) >= SOUND_BATCH:
                self._submit_sound()
        self.audio.append(chunk.samples)
        if sum(len(a) for a in self.audio) >= self.config.whisper_chunk_s * ae.SAMPLE_RATE:
            self._submit_speech(final=False)

    def _submit_sound(self) -> None:
        if self.pending_patches:
            first = self.pending_patches[0][0] + _HALF_PATCH
            self.sound.append((first, self.workers.sound.submit(self._label, self.pending_patches)))
            self.pending_patches = []
            with self._inline("waiting"):
                _bound([f for _, f in self.sound], SOUND_PENDING)

    def _label(self, patches: list[tuple[float, np.ndarray]]) -> list[tuple[float, np.ndarray]]:
        yamnet = self.models.get("yamnet")
        with self.clock.time("audio events"):
            # float16 rows: held only until their segment is finished (1 KB per 0.48 s of audio)
            return [(start + _HALF_PATCH, yamnet.scores(p).astype(np.float16)) for start, p in patches]  # type: ignore[attr-defined]

    @contextmanager
    def _inline(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        with self.clock.time(stage):
            yield
        self.inline_seconds += time.perf_counter() - started

    def _submit_speech(self, *, final: bool) -> None:
        audio = np.concatenate(self.audio) if self.audio else np.zeros(0, dtype=np.float32)
        cut = len(audio) if final else transcribe.quiet_cut(audio, search_s=10.0)
        head, self.audio = audio[:cut], [audio[cut:]]
        if len(head) >= ae.SAMPLE_RATE // 2:
            job = self.workers.speech.submit(self._transcribe, head, self.audio_start)
            self.speech.append((self.audio_start, job))
            with self._inline("waiting"):
                _bound([f for _, f in self.speech], WHISPER_PENDING)
        self.audio_start += cut / ae.SAMPLE_RATE

    def _transcribe(
        self, audio: np.ndarray, offset: float
    ) -> tuple[list[transcribe.Word], list[tuple[float, str]]]:
        whisper = self.models.get("whisper")
        with self.clock.time("transcription"):
            return whisper.transcribe(audio, offset)  # type: ignore[attr-defined]

    def _close(self, span: scenes.Span) -> None:
        before = [c for c in self.candidates if c[0] < span[1]] or self.candidates[:1]
        if not before:
            self.assembly.add_span(span, None)
            return
        middle = (span[0] + span[1]) / 2
        _, image = min(before, key=lambda c: abs(c[0] - middle))
        with self._inline("keyframes"):
            path = _save_keyframe(image, self.keyframes, span[0], self.config.thumbnail_width)
        self.frames_pending.append((self.assembly.add_span(span, str(path)), image))
        if len(self.frames_pending) >= OCR_BATCH:
            self._submit_visual()
        later = [c for c in self.candidates if c[0] >= span[1]]
        self.candidates = later or self.candidates[-1:]

    def _submit_visual(self) -> None:
        if self.frames_pending:
            indices, images = [i for i, _ in self.frames_pending], [im for _, im in self.frames_pending]
            self.visual_jobs.append((self.workers.visual.submit(self._read, images), indices))
            self.frames_pending = []
            with self._inline("waiting"):
                _bound([f for f, _ in self.visual_jobs], VISUAL_PENDING)

    def _read(self, images: list[np.ndarray]) -> list[str]:
        """Each keyframe's visual text: its OCR lines (the batch read at once), then any caption."""
        texts = [""] * len(images)
        if self.config.ocr:
            with self.clock.time("ocr"):
                texts = self.models.get("ocr").read_many(images)  # type: ignore[attr-defined]
        if self.config.vision:
            with self.clock.time("vision"):
                captions = [self.models.get("vision").caption(i) for i in images]  # type: ignore[attr-defined]
            texts = ["\n".join(p for p in pair if p) for pair in zip(texts, captions, strict=True)]
        return texts

    def _collect(self, *, wait: bool = False) -> None:
        """Hand the finished work of the model threads to the assembly and emit what is final."""
        while self.visual_jobs and (wait or self.visual_jobs[0][0].done()):
            job, indices = self.visual_jobs.pop(0)
            for index, text in zip(indices, job.result(), strict=True):
                self.assembly.set_visual(index, text)
        while self.sound and (wait or self.sound[0][1].done()):
            self.assembly.add_scores(self.sound.pop(0)[1].result())
        while self.speech and (wait or self.speech[0][1].done()):
            self.assembly.add_speech(*self.speech.pop(0)[1].result())
        self._emit(self.assembly.ready(speech_until=self._speech_until(), sound_until=self._sound_until()))

    def _speech_until(self) -> float:
        """Where the words not yet added can start: the oldest unfinished chunk, or unsent audio."""
        if not self.probe.has_audio:
            return INF
        return self.speech[0][0] if self.speech else self.audio_start

    def _sound_until(self) -> float:
        """The time of the first score row not yet added."""
        if not self.probe.has_audio or not self.config.audio_labels:
            return INF
        if self.sound:
            return self.sound[0][0]
        if self.pending_patches:
            return self.pending_patches[0][0] + _HALF_PATCH
        return self.patches.next_start + _HALF_PATCH

    def _emit(self, segments: list[Segment]) -> None:
        if segments:
            self.emitted += len(segments)
            self.emit(segments)

    def finish(self) -> None:
        if isinstance(self.detector, scenes.TransNetCuts):
            with self._inline("scenes"):
                self.planner.add_cuts(self.detector.flush(self.frames))
        for span in self.planner.finish(self.duration):
            self._close(span)
        self._submit_speech(final=True)
        self._submit_sound()
        self._submit_visual()
        self._collect(wait=True)
        self._emit(self.assembly.finish())
        if self.probe.has_audio and not self.assembly.heard:
            self.notes.append("no speech recognised")


def _detector(config: VideoIngestConfig, fps: float) -> scenes.ContentCuts | scenes.TransNetCuts | None:
    if config.scenes == "content":
        return scenes.ContentCuts(fps, config.scene_threshold)
    if config.scenes == "transnetv2":
        return scenes.TransNetCuts(fps)
    return None


def _bound(futures: list[Future], pending: int) -> None:
    """Wait for the oldest work once more than ``pending`` items are queued (back-pressure)."""
    if len(futures) > pending:
        futures[-pending - 1].result()


def _save_keyframe(image: np.ndarray, folder: Path, start: float, thumb_width: int) -> Path:
    """``folder/START_MS.jpg`` and a ``thumb_width`` thumbnail beside it as ``START_MS.thumb.jpg``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{round(start * 1000):09d}.jpg"
    picture = Image.fromarray(image)
    picture.save(path, format="JPEG", quality=85)
    picture.thumbnail((thumb_width, thumb_width))
    picture.save(path.with_suffix(".thumb.jpg"), format="JPEG", quality=80)
    return path
