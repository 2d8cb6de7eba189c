"""A video's channels in as they are found, its finished segments out in time order (pure).

Decoding, Whisper, YAMNet and OCR each run ahead of one another, so a segment is finished only once
nothing found later could change it: every span up to a boundary ``b`` is known, its keyframes read,
all sound scores and words before ``b`` known, and no sentence crosses ``b`` or could still grow
across it. :meth:`Assembler.ready` emits the spans before the latest such boundary, so what is held
is the text and scores of the last few segments, not of the whole video; the segments are the same
as assembling the whole video at the end would give (tests/search/video/test_assemble.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from stillhouse.search.segments import MAX_CHANNEL_CHARS, MetadataValue, Segment
from stillhouse.search.video import audio_events as ae
from stillhouse.search.video import transcribe
from stillhouse.search.video.scenes import Span

INF = math.inf


@dataclass
class _Open:
    span: Span
    keyframe: str | None
    visual: str | None = None  # None until its keyframe is read ('' when it has none)


@dataclass
class Assembler:
    """Segments of one video; ``labels`` gives YAMNet's class names (asked only once scores came)."""

    video_id: str
    meta: dict[str, MetadataValue]
    labels: Callable[[], Sequence[str]]
    audio_labels: int = 3
    audio_min_score: float = 0.2
    spans: list[_Open] = field(default_factory=list)
    words: list[transcribe.Word] = field(default_factory=list)
    tags: list[tuple[float, str]] = field(default_factory=list)
    scores: list[tuple[float, np.ndarray]] = field(default_factory=list)
    heard: bool = False  # whether any word was ever recognised
    emitted: int = 0  # spans handed on (``spans`` holds those after them)

    def add_span(self, span: Span, keyframe: str | None) -> int:
        """A settled span (in time order); its number in the video, for :meth:`set_visual`."""
        self.spans.append(_Open(span, keyframe, None if keyframe else ""))
        return self.emitted + len(self.spans) - 1

    def set_visual(self, number: int, text: str) -> None:
        self.spans[number - self.emitted].visual = text

    def add_speech(self, words: Sequence[transcribe.Word], tags: Sequence[tuple[float, str]]) -> None:
        self.words += words
        self.tags += tags
        self.heard = self.heard or bool(words)

    def add_scores(self, rows: Sequence[tuple[float, np.ndarray]]) -> None:
        self.scores += rows

    def ready(self, *, speech_until: float, sound_until: float) -> list[Segment]:
        """The segments no later finding can change, given every word starting before
        ``speech_until`` and every score row before ``sound_until`` has been added."""
        found = transcribe.sentences(self.words)
        horizon = min(speech_until, sound_until)
        for count in range(self._known(), 0, -1):
            boundary = self.spans[count - 1].span[1]
            if boundary <= horizon and _clear(found, boundary, speech_until):
                return self._emit(count, boundary, found)
        return []

    def finish(self) -> list[Segment]:
        """Every remaining segment, once the whole video has been analysed and every keyframe read
        (a sentence running past the last span goes to the span it overlaps most, as any other)."""
        return self._emit(len(self.spans), INF, transcribe.sentences(self.words))

    def _known(self) -> int:
        """How many leading spans have their keyframe's text."""
        for i, pending in enumerate(self.spans):
            if pending.visual is None:
                return i
        return len(self.spans)

    def _emit(self, count: int, boundary: float, found: list[transcribe.Sentence]) -> list[Segment]:
        done, self.spans = self.spans[:count], self.spans[count:]
        self.emitted += count
        spans = [d.span for d in done]
        speech = transcribe.assign_sentences([s for s in found if s.start < boundary], spans)
        self.words = [w for w in self.words if w.start >= boundary]
        tags, self.tags = _split(self.tags, boundary)
        rows, self.scores = _split(self.scores, boundary)
        sounds: list[list[str]] = [[] for _ in spans]
        for (_, tag), i in zip(tags, transcribe.assign([(t, t) for t, _ in tags], spans), strict=True):
            if i is not None and tag not in sounds[i]:
                sounds[i].append(tag)
        per_span: list[list[np.ndarray]] = [[] for _ in spans]
        for (_, row), i in zip(rows, transcribe.assign([(t, t) for t, _ in rows], spans), strict=True):
            if i is not None:
                per_span[i].append(row.astype(np.float32))
        labels = self.labels() if rows else []
        out = []
        for i, pending in enumerate(done):
            top = ae.top_labels(per_span[i], labels, self.audio_labels, self.audio_min_score)
            start, end = pending.span
            out.append(
                Segment(
                    video_id=self.video_id,
                    start=round(start, 3),
                    end=round(end, 3),
                    visual=(pending.visual or "")[:MAX_CHANNEL_CHARS] or None,
                    audio=", ".join(top + [f"[{t}]" for t in sounds[i]]) or None,
                    transcription=speech[i][:MAX_CHANNEL_CHARS] or None,
                    metadata=self.meta,
                    keyframe=pending.keyframe,
                )
            )
        return out


def _clear(found: Sequence[transcribe.Sentence], boundary: float, speech_until: float) -> bool:
    """Whether every sentence starting before ``boundary`` ends by it and cannot grow: a later
    sentence has begun, or it ends in terminal punctuation, or a pause longer than a sentence's
    gap separates it from any word still to come (those start at ``speech_until`` or later)."""
    for k, sentence in enumerate(found):
        if sentence.start >= boundary:
            break
        if sentence.end > boundary:
            return False
        last = k == len(found) - 1
        if last and not (_terminal(sentence) or speech_until - sentence.end > transcribe.SENTENCE_GAP):
            return False
    return True


def _terminal(sentence: transcribe.Sentence) -> bool:
    last_word = sentence.text.rsplit(" ", 1)[-1]
    return transcribe.ends_sentence(transcribe.Word(sentence.end, sentence.end, last_word))


def _split(items: list, boundary: float) -> tuple[list, list]:
    """``(time, value)`` items before ``boundary``, and the rest."""
    return [i for i in items if i[0] < boundary], [i for i in items if i[0] >= boundary]
