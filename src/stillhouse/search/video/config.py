"""How a video becomes segments (:class:`VideoIngestConfig`); its fingerprint decides what a rerun skips."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")


class SegmentPolicy(BaseModel):
    """Segment lengths in seconds: boundaries snap to a scene cut between ``min_s`` and ``max_s``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_s: float = Field(default=5.0, gt=0)
    target_s: float = Field(default=10.0, gt=0)
    max_s: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> SegmentPolicy:
        if not self.min_s <= self.target_s <= self.max_s:
            raise ValueError("segment lengths must satisfy min_s <= target_s <= max_s")
        if self.max_s < 2 * self.min_s:
            # Otherwise a stretch between max_s and 2 * min_s long cannot be split at all.
            raise ValueError("max_s must be at least twice min_s")
        return self


class VideoIngestConfig(BaseModel):
    """Every choice that changes what a video's segments contain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segments: SegmentPolicy = SegmentPolicy()
    scenes: Literal["content", "transnetv2", "none"] = "content"
    scene_threshold: float = Field(default=27.0, gt=0)  # PySceneDetect's ContentDetector default
    # Frames per second the content detector compares (a cut is placed to within 1/scene_fps s,
    # plenty for 5-15 s segments); TransNetV2 always sees every frame, as it was trained to.
    scene_fps: float = Field(default=12.5, gt=0)
    whisper: str = "tiny.en"  # tiny.en | base | a CTranslate2 Whisper folder
    language: str | None = None  # None: English for *.en models, detected otherwise
    vad: bool = True  # skip non-speech stretches (music) instead of transcribing them
    whisper_chunk_s: float = Field(default=60.0, ge=10.0)
    audio_labels: int = Field(default=3, ge=0, le=20)
    audio_min_score: float = Field(default=0.2, ge=0, le=1)
    ocr: bool = True
    vision: str | None = None  # a captioner: openai-vision:URL#MODEL (none ships offline)
    keyframe_width: int = Field(default=640, ge=64)
    thumbnail_width: int = Field(default=160, ge=32)

    def fingerprint(self) -> str:
        """A short hash of the config: a video ingested under the same one is skipped."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
