"""One streaming decode of a video file with PyAV: small frames for cut detection, keyframe
candidates twice a second, and 16 kHz mono audio, interleaved in file order. Nothing accumulates
here: each frame and audio chunk is handed on as soon as it is decoded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CUT_SIZE = (160, 90)  # frames the content detector compares (its HSV deltas do not need more)
TRANSNET_SIZE = (48, 27)  # TransNetV2's input
KEYFRAME_EVERY = 0.5  # seconds between keyframe candidates


@dataclass(frozen=True)
class Probe:
    duration: float
    fps: float
    width: int
    height: int
    has_audio: bool
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Frame:
    time: float
    small: np.ndarray | None  # BGR at CUT_SIZE (RGB at TRANSNET_SIZE for TransNetV2); None: not sampled
    candidate: np.ndarray | None  # RGB at the keyframe width, every KEYFRAME_EVERY seconds


@dataclass(frozen=True)
class Audio:
    time: float
    samples: np.ndarray  # float32 mono 16 kHz


def probe(path: Path) -> Probe:
    """Duration, frame rate, size, whether there is sound, and the container's tags (raises av's
    errors for a file it cannot read, and ValueError for one without a video stream)."""
    import av

    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        video = container.streams.video[0]
        duration = _duration(container, video)
        tags = {k.lower(): str(v) for k, v in {**container.metadata, **video.metadata}.items()}
        fps = float(video.average_rate or video.guessed_rate or 25)
        return Probe(duration, fps, video.width, video.height, bool(container.streams.audio), tags)


def _duration(container: object, video: object) -> float:
    if getattr(video, "duration", None) and getattr(video, "time_base", None):
        return float(video.duration * video.time_base)  # type: ignore[attr-defined]
    raw = getattr(container, "duration", None)
    return raw / 1_000_000 if raw else 0.0


def stream(
    path: Path, *, keyframe_width: int, transnet: bool = False, small_every: int = 1
) -> Iterator[Frame | Audio]:
    """Frames and audio in decode order (the audio resampled to 16 kHz mono float); every
    ``small_every``-th frame carries a small copy for the cut detector."""
    import av
    from av.video.reformatter import VideoReformatter

    # One reformatter per output, reused: frame.to_ndarray(format=...) builds a scaler per frame,
    # which costs more than decoding a small video.
    to_small, to_key = VideoReformatter(), VideoReformatter()
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        resampler = (
            # Whole seconds out: one Python-level chunk per second, not one per codec frame.
            av.AudioResampler(format="flt", layout="mono", rate=16_000, frame_size=16_000) if audio else None
        )
        key_size = _even_size(video.width, video.height, keyframe_width)
        small_size, small_format = (TRANSNET_SIZE, "rgb24") if transnet else (CUT_SIZE, "bgr24")
        next_candidate = 0.0
        index = 0
        for packet in container.demux(*(s for s in (video, audio) if s is not None)):
            for decoded in _decode(packet):
                if isinstance(decoded, av.VideoFrame):
                    t = float(decoded.time or 0.0)
                    small = None
                    if index % small_every == 0:
                        small = to_small.reformat(
                            decoded, width=small_size[0], height=small_size[1], format=small_format
                        ).to_ndarray()
                    index += 1
                    candidate = None
                    if t >= next_candidate:
                        candidate = to_key.reformat(
                            decoded, width=key_size[0], height=key_size[1], format="rgb24"
                        ).to_ndarray()
                        next_candidate = t + KEYFRAME_EVERY
                    yield Frame(t, small, candidate)
                elif resampler is not None:
                    yield from _resampled(resampler, decoded)
        if resampler is not None:
            yield from _resampled(resampler, None)


def _decode(packet: object) -> list:
    import av

    try:
        return packet.decode()  # type: ignore[attr-defined]
    except av.error.InvalidDataError:
        return []  # one damaged packet costs its frames, not the rest of the file


def _resampled(resampler: object, frame: object) -> Iterator[Audio]:
    for out in resampler.resample(frame):  # type: ignore[attr-defined]
        samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        yield Audio(float(out.time or 0.0) if out.time is not None else -1.0, samples)


def _even_size(width: int, height: int, target: int) -> tuple[int, int]:
    """At most ``target`` wide, aspect kept, both sides even (what JPEG and scalers prefer)."""
    if width <= target:
        return width - width % 2, height - height % 2
    h = round(height * target / width)
    return target, max(2, h - h % 2)
