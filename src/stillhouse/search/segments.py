"""Segments: the unit the search engine indexes, and the ``add-segments`` JSON-lines reader.

A segment is a time range of one video with up to four text channels (``visual``, ``audio``,
``transcription``, ``metadata``) and an optional keyframe path. Parsing a line is pure and never
raises: a bad line becomes a :class:`SegmentProblem` naming its line and field, so a file with bad
lines still indexes its good ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from stillhouse.errors import InvalidInputError
from stillhouse.records.jsonl import field_path
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

MetadataValue = str | int | float | bool | list[str | int | float | bool]
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]
# A channel is stored as one text field; Milvus caps a VARCHAR at 65,535 bytes (4 bytes a character
# at worst), and a ~10 s segment's caption or transcript is far shorter than this.
MAX_CHANNEL_CHARS = 16_000
Channel = Annotated[str, StringConstraints(max_length=MAX_CHANNEL_CHARS)]
NEEDS = "at least one of visual, audio, transcription, metadata, or a keyframe"
# A keyframe is a channel only where something reads it: an image embedder (its vector joins the
# visual channel) or a keyword model (its keywords become the visual text).
KEYFRAME_ALONE = (
    "a segment needs at least one of visual, audio, transcription, metadata; a keyframe alone is "
    "indexed only with an image embedder (--image-embedder) or visual keywords (--visual-keywords)"
)


class Segment(BaseModel):
    """One line of a segment file: ``{"video_id", "start", "end", "visual"?, "audio"?,
    "transcription"?, "metadata"?, "keyframe"?, "media"?}``: ``keyframe`` is an image of the segment
    and ``media`` the video (or audio) file it is cut from, the files a console shows and plays
    (a relative path is relative to the segment file's folder: :func:`anchored`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: NonEmpty
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    visual: Channel | None = None
    audio: Channel | None = None
    transcription: Channel | None = None
    metadata: dict[str, MetadataValue] | None = None
    keyframe: Annotated[str, StringConstraints(max_length=4096)] | None = None
    media: Annotated[str, StringConstraints(max_length=4096)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Segment:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if not self.modalities() and not self.keyframe:
            raise ValueError(f"a segment needs {NEEDS}")
        if len(self.text("metadata")) > MAX_CHANNEL_CHARS:
            raise ValueError(f"metadata is longer than {MAX_CHANNEL_CHARS} characters as text")
        return self

    def text(self, modality: Modality) -> str:
        """The searchable text of one channel ('' when the segment lacks it); metadata reads as
        ``key: value`` lines so a field name is searchable with its value."""
        if modality == "metadata":
            return "\n".join(f"{k}: {_scalar_text(v)}" for k, v in (self.metadata or {}).items())
        value = getattr(self, modality)
        return value.strip() if value else ""

    def modalities(self) -> tuple[Modality, ...]:
        """The channels this segment has (non-empty text), in canonical order."""
        return tuple(m for m in MODALITIES if self.text(m))

    def combined_text(self) -> str:
        """Every channel in one text: what the single-embedding baseline indexes."""
        return "\n".join(self.text(m) for m in self.modalities())


def segment_key(segment: Segment) -> str:
    """A segment's deterministic identity, ``video_id@start``: a re-ingest that produces the same
    segment again is recognised by it (a video's segments never share a start)."""
    return f"{segment.video_id}@{segment.start:.3f}"


def _scalar_text(value: MetadataValue) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


class SegmentProblem(BaseModel):
    """A line that was not indexed, and why."""

    model_config = ConfigDict(extra="forbid")

    file: str | None = None
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:" if self.file else "line "
        return f"{where}{self.line}: {self.field}: {self.reason}"


def parse_segment(raw: bytes | str, line: int, file: str | None = None) -> Segment | SegmentProblem:
    """One JSON line -> a segment, or the first problem in it (pure; never raises)."""
    try:
        data: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return SegmentProblem(file=file, line=line, field="segment", reason=f"invalid JSON: {exc}")
    if not isinstance(data, dict):
        return SegmentProblem(file=file, line=line, field="segment", reason="expected a JSON object")
    try:
        return Segment.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        where = field_path(err["loc"]) if err["loc"] else "segment"
        return SegmentProblem(file=file, line=line, field=where, reason=reason.removeprefix("Value error, "))


def iter_segments(
    location: str | Path,
    *,
    enrich: Callable[[Segment], Segment] | None = None,
    keyframes_embedded: bool = False,
) -> Iterator[Segment | SegmentProblem]:
    """Each non-blank line of a JSONL file, folder or ``s3://`` location, parsed, in order.

    ``enrich`` rewrites each good segment (e.g. its keyframe's keywords as visual text); an
    :class:`InvalidInputError` it raises becomes that line's problem. A segment left with no text
    channel is a problem too (:func:`channel_problem`) unless ``keyframes_embedded``."""
    from stillhouse.sources.files import iter_source_lines

    base = _base_folder(location)
    for item in iter_source_lines(location, None):
        if item.raw is None:
            continue
        parsed = parse_segment(item.raw, item.line, item.file)
        if isinstance(parsed, Segment):
            parsed = anchored(parsed, base) if base is not None else parsed
            try:
                parsed = enrich(parsed) if enrich is not None else parsed
                reason = channel_problem(parsed, keyframes_embedded=keyframes_embedded)
            except InvalidInputError as exc:
                parsed = SegmentProblem(
                    file=item.file, line=item.line, field=exc.field or "segment", reason=exc.message
                )
            else:
                if reason is not None:
                    parsed = SegmentProblem(file=item.file, line=item.line, field="segment", reason=reason)
        yield parsed


def channel_problem(segment: Segment, *, keyframes_embedded: bool) -> str | None:
    """Why ``segment`` would be indexed with no channel at all, or None: a segment with only a
    keyframe needs an image embedder to embed it (or keywords to have been derived from it), and
    that keyframe must be a file the embedder can open."""
    if segment.modalities():
        return None
    if not keyframes_embedded:
        return KEYFRAME_ALONE
    keyframe = str(segment.keyframe)
    if "://" in keyframe or not Path(keyframe).is_file():
        return f"keyframe {keyframe} is not a readable local file, and the segment has no other channel"
    return None


def _base_folder(location: str | Path) -> Path | None:
    if str(location).startswith("s3://"):
        return None
    path = Path(location).resolve()
    return path if path.is_dir() else path.parent


def anchored(segment: Segment, base: Path) -> Segment:
    """Relative ``keyframe``/``media`` paths read as relative to the segment file's folder (as a
    playlist's do), so the index records where the files are whatever the reader's working folder."""
    updates = {
        name: str(base / value)
        for name in ("keyframe", "media")
        if (value := getattr(segment, name)) and "://" not in value and not Path(value).is_absolute()
    }
    return segment.model_copy(update=updates) if updates else segment
