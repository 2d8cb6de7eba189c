"""transformers vision-language backend: a local folder loaded with ``AutoModelForImageTextToText``
and its processor (:mod:`stillhouse.models.vision_processor`: SmolVLM/Idefics3, Qwen2-VL and
Qwen2.5-VL, LLaVA families), fp32 on CPU.

The processor's chat template writes the image placeholders and the processor expands them into
the model's image tokens, so each family is rendered exactly as it was trained. Everything after
encoding (decoding options, stop strings, streaming, accounting) is the text backend's.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

from stillhouse.chat import Image, Message
from stillhouse.errors import CorruptModelError, MissingDependencyError, NotFoundError
from stillhouse.models.hf import TransformersModel
from stillhouse.models.hf_loading import one_load_at_a_time


def is_vision_folder(path: Path) -> bool:
    """Whether ``path`` holds a vision-language model (its config.json has a ``vision_config``)."""
    try:
        config = json.loads((Path(path) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and "vision_config" in config


def load_vision_pretrained(path: Path) -> tuple[Any, Any]:
    """(model, processor) of a vision-language folder, fp32 on CPU, in eval mode."""
    try:
        import torch
        from transformers import AutoModelForImageTextToText
    except ImportError as exc:
        raise MissingDependencyError(
            "the transformers backend needs: pip install 'stillhouse[train]'"
        ) from exc
    from stillhouse.models.vision_processor import load_processor

    if not (path / "config.json").is_file():
        raise NotFoundError(f"no vision model folder at {path}", field="model")
    processor = load_processor(path)
    if getattr(processor, "image_processor", None) is None:
        raise CorruptModelError(f"{path}'s processor has no image processor; not a vision model folder")
    with one_load_at_a_time():
        model = AutoModelForImageTextToText.from_pretrained(str(path), dtype=torch.float32)
    model.eval()
    return model, processor


def to_pil(image: Image) -> Any:
    """The image as an RGB ``PIL.Image`` (what every image processor takes)."""
    from PIL import Image as PILImage

    return PILImage.open(io.BytesIO(image.data)).convert("RGB")


def processor_chat(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the processors' chat form: content parts, each image before its turn's text."""
    chat = []
    for m in messages:
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in m.images]
        if m.content or not parts:
            parts.append({"type": "text", "text": m.content})
        chat.append({"role": m.role, "content": parts})
    return chat


def encode_with_processor(
    processor: Any, messages: list[Message], *, add_generation_prompt: bool
) -> dict[str, Any]:
    """The processor's model inputs (ids with the image tokens expanded, pixel values, ...) for a
    conversation rendered with its chat template."""
    text = processor.apply_chat_template(
        processor_chat(messages), add_generation_prompt=add_generation_prompt, tokenize=False
    )
    images = [to_pil(image) for m in messages for image in m.images]
    kwargs: dict[str, Any] = {"images": [images]} if images else {}
    # The template already wrote every special token; the tokenizer must not add a BOS of its own.
    return dict(processor(text=[text], return_tensors="pt", add_special_tokens=False, **kwargs))


class VisionTransformersModel(TransformersModel):
    """A vision-language model run with ``transformers.generate``; one generation at a time."""

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.name = name or self.path.name
        self._lock = threading.Lock()
        self._model, self.processor = load_vision_pretrained(self.path)
        self._tokenizer = self.processor.tokenizer

    def _encode(self, messages: list[Message]) -> dict[str, Any]:
        return encode_with_processor(self.processor, messages, add_generation_prompt=True)
