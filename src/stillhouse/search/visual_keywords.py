"""Keyframes as visual text: a keyword model (the image-keywords task's teacher or student) labels
each segment's keyframe, and its keywords become the segment's visual channel text.

This is what the visual channel is searched by when no image embedding model is configured: the
keywords are embedded and BM25-indexed like any other channel text.
"""

from __future__ import annotations

from pathlib import Path

from stillhouse.chat import ChatModel, GenerationParams
from stillhouse.errors import InvalidInputError
from stillhouse.search.segments import MAX_CHANNEL_CHARS, Segment
from stillhouse.sources.images import ImageConfig, prepare_image
from stillhouse.tasks.image_keywords import ImageKeywordsTask, image_messages


class VisualKeywords:
    """Labels keyframes with ``model``, downscaled by ``image`` first."""

    def __init__(self, model: ChatModel, image: ImageConfig | None = None, *, max_tokens: int = 256) -> None:
        self.model = model
        self.image = image or ImageConfig()
        self.params = GenerationParams(max_tokens=max_tokens)
        self.task = ImageKeywordsTask()

    def keywords(self, keyframe: str) -> list[str]:
        """The keywords of one keyframe file; :class:`InvalidInputError` when it cannot be read or
        the model's answer holds no keyword."""
        if "://" in keyframe:
            raise InvalidInputError(
                f"{keyframe}: only local keyframe files can be labelled", field="keyframe"
            )
        try:
            data = Path(keyframe).read_bytes()
        except OSError as exc:
            raise InvalidInputError(
                f"cannot read {keyframe}: {exc.strerror or exc}", field="keyframe"
            ) from exc
        prepared = prepare_image(data, self.image, name=keyframe)
        answer = self.model.generate(image_messages(prepared.image), self.params).text
        value = self.task.lenient_value(answer)
        if value is None:
            raise InvalidInputError(f"{self.model.name} wrote no keyword for {keyframe}", field="keyframe")
        return list(value["keywords"])

    def enrich(self, segment: Segment) -> Segment:
        """``segment`` with its keyframe's keywords as (or after) its visual text."""
        if not segment.keyframe:
            return segment
        words = ", ".join(self.keywords(segment.keyframe))
        visual = f"{segment.visual.strip()}\n{words}" if segment.visual and segment.visual.strip() else words
        return segment.model_copy(update={"visual": visual[:MAX_CHANNEL_CHARS]})
