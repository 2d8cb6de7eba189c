"""Images from disk into records: decode, downscale, re-encode, and a folder as prompt records.

The sizing rules are pure (:mod:`stillhouse.records.images`); this module is the Pillow edge.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import Image, Message
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.records.images import fit_size, token_estimate
from stillhouse.records.schema import ConversationRecord, from_messages

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


class ImageConfig(BaseModel):
    """How images are prepared: the longest side after downscaling, the format and JPEG quality.

    512 px keeps a photo's content legible at ~350 tokens (the seed's width × height / 750).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_side: int = Field(default=512, ge=16, le=8000)
    format: Literal["jpeg", "png"] = "jpeg"
    quality: int = Field(default=90, ge=1, le=100)


class PreparedImage(BaseModel):
    """An image ready for a record: its bytes and sizes before and after, and its token estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: Image
    original_size: tuple[int, int]
    size: tuple[int, int]

    @property
    def tokens(self) -> int:
        return token_estimate(*self.size)


def prepare_image(data: bytes, config: ImageConfig, *, name: str = "image") -> PreparedImage:
    """Decode ``data``, downscale it to ``config.max_side`` and encode it as ``config.format``."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        picture = PILImage.open(io.BytesIO(data))
        picture.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"{name} is not a readable image: {exc}", field="image") from exc
    original = picture.size
    size = fit_size(*original, config.max_side)
    picture = picture.convert("RGB") if config.format == "jpeg" else picture.convert("RGBA")
    if size != original:
        picture = picture.resize(size, PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    extra = {"quality": config.quality} if config.format == "jpeg" else {}
    picture.save(buffer, format=config.format.upper(), **extra)
    return PreparedImage(
        image=Image(format=config.format, data=buffer.getvalue()), original_size=original, size=size
    )


def image_files(folder: Path) -> list[Path]:
    """The image files directly in ``folder``, by name."""
    if not folder.is_dir():
        raise NotFoundError(f"no image folder at {folder}", field="folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"{folder} holds no image ({', '.join(IMAGE_SUFFIXES)})", field="folder")
    return files


class PromptRecords(BaseModel):
    """A folder's images as prompt records, with where each came from and what it will cost."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    records: list[ConversationRecord]
    files: list[Path]
    prepared: list[PreparedImage]

    @property
    def tokens(self) -> int:
        return sum(p.tokens for p in self.prepared)

    @property
    def original_tokens(self) -> int:
        return sum(token_estimate(*p.original_size) for p in self.prepared)


def folder_prompt_records(
    folder: Path, system_prompt: str, user_prompt: str, config: ImageConfig | None = None
) -> PromptRecords:
    """One single-image prompt record (system, then a user turn with the text and the image) for
    each image in ``folder``, downscaled by ``config``."""
    config = config or ImageConfig()
    files = image_files(Path(folder))
    prepared = [prepare_image(path.read_bytes(), config, name=str(path)) for path in files]
    records = [
        from_messages(
            [
                Message(role="system", content=system_prompt),
                Message(role="user", content=user_prompt, images=(p.image,)),
            ]
        )
        for p in prepared
    ]
    return PromptRecords(records=records, files=files, prepared=prepared)
