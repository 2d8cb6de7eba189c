"""Typed model of a ``bedrock-conversation-2024`` record and its conversion to the domain messages.

The model is permissive about *content* (the validator in :mod:`stillhouse.records.validate` applies
the product rules and reports every problem with its line), but strict about *shape*: unknown keys
are refused so that a typo never passes silently.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from stillhouse.chat import Image, Message

SCHEMA_VERSION = "bedrock-conversation-2024"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class S3Location(_Wire):
    uri: str
    bucketOwner: str | None = None


class ImageSource(_Wire):
    """Exactly one of inline base64 ``bytes`` or an ``s3Location``."""

    bytes: str | None = None
    s3Location: S3Location | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSource:
        if (self.bytes is None) == (self.s3Location is None):
            raise ValueError("image source needs exactly one of 'bytes' or 's3Location'")
        return self


class ImageBlock(_Wire):
    format: str
    source: ImageSource


class ContentBlock(_Wire):
    """Exactly one of ``text`` or ``image``."""

    text: str | None = None
    image: ImageBlock | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ContentBlock:
        if (self.text is None) == (self.image is None):
            raise ValueError("content block needs exactly one of 'text' or 'image'")
        return self


class SystemBlock(_Wire):
    text: str


class Turn(_Wire):
    role: str
    content: list[ContentBlock]

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content if block.text is not None)

    @property
    def images(self) -> list[ImageBlock]:
        return [block.image for block in self.content if block.image is not None]


class ConversationRecord(_Wire):
    schemaVersion: Literal["bedrock-conversation-2024"] = SCHEMA_VERSION
    system: list[SystemBlock] | None = None
    messages: list[Turn]

    @property
    def system_text(self) -> str:
        return "\n".join(block.text for block in self.system or [])

    @property
    def is_labelled(self) -> bool:
        """A labelled pair ends on an assistant turn; a prompt-only record ends on a user turn."""
        return bool(self.messages) and self.messages[-1].role == "assistant"

    @property
    def prompt_turns(self) -> list[Turn]:
        """The turns the teacher or student sees (everything before a final assistant turn)."""
        return self.messages[:-1] if self.is_labelled else list(self.messages)

    @property
    def answer(self) -> str | None:
        """The final assistant text of a labelled record, else ``None``."""
        return self.messages[-1].text if self.is_labelled else None

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=True)


ImageLoader = Callable[[ImageBlock], bytes]


def _inline_bytes(block: ImageBlock) -> bytes:
    if block.source.bytes is None:
        raise ValueError("image is stored in S3; pass an image loader that reads the object store")
    return base64.b64decode(block.source.bytes)


def to_messages(
    record: ConversationRecord, *, include_answer: bool = False, load_image: ImageLoader = _inline_bytes
) -> list[Message]:
    """Domain messages of a record: system first, then the prompt turns (and the answer if asked)."""
    turns = record.messages if include_answer else record.prompt_turns
    out = [Message(role="system", content=record.system_text)] if record.system_text else []
    for turn in turns:
        images = tuple(
            Image(format=img.format, data=load_image(img))  # type: ignore[arg-type]
            for img in turn.images
        )
        out.append(Message(role=turn.role, content=turn.text, images=images))  # type: ignore[arg-type]
    return out


def inline_images(record: ConversationRecord, load_image: ImageLoader) -> ConversationRecord:
    """``record`` with every ``s3Location`` image replaced by its bytes (a self-contained snapshot)."""
    if not any(img.source.s3Location is not None for turn in record.messages for img in turn.images):
        return record

    def inlined(block: ContentBlock) -> ContentBlock:
        if block.image is None or block.image.source.s3Location is None:
            return block
        data = base64.b64encode(load_image(block.image)).decode()
        return ContentBlock(image=ImageBlock(format=block.image.format, source=ImageSource(bytes=data)))

    turns = [Turn(role=t.role, content=[inlined(b) for b in t.content]) for t in record.messages]
    return record.model_copy(update={"messages": turns})


def from_messages(messages: list[Message]) -> ConversationRecord:
    """A record from domain messages (images inlined as base64 bytes)."""
    system = [SystemBlock(text=m.content) for m in messages if m.role == "system"]
    turns = []
    for m in messages:
        if m.role == "system":
            continue
        blocks = [ContentBlock(text=m.content)] if m.content else []
        blocks += [
            ContentBlock(
                image=ImageBlock(
                    format=img.format, source=ImageSource(bytes=base64.b64encode(img.data).decode())
                )
            )
            for img in m.images
        ]
        turns.append(Turn(role=m.role, content=blocks))
    return ConversationRecord(system=system or None, messages=turns)
