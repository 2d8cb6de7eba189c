"""Captions or keywords for keyframes from a vision model the user configures.

No image captioner or vision-language model ships in a package here, so the offline default has
none and a segment's visual channel is its on-screen text. A user adds one with
``--vision openai-vision:BASE_URL#MODEL`` (any OpenAI-compatible chat endpoint that accepts images:
vLLM, llama.cpp's server with an mmproj, Ollama, OpenAI itself), or in code with any object that
has ``caption(image_rgb) -> str``.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Protocol

import numpy as np

from stillhouse.errors import InvalidInputError

PROMPT = "Describe this video frame in one sentence, then list up to eight keywords."


class Captioner(Protocol):
    def caption(self, image_rgb: np.ndarray) -> str: ...


class OpenAIVision:
    """A chat-completions endpoint given the frame as a JPEG data URL (key: ``$OPENAI_API_KEY``)."""

    def __init__(self, base_url: str, model: str) -> None:
        from openai import OpenAI

        self._client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "unused"))
        self.model = model

    def caption(self, image_rgb: np.ndarray) -> str:
        url = "data:image/jpeg;base64," + base64.b64encode(jpeg_bytes(image_rgb)).decode()
        reply = self._client.chat.completions.create(
            model=self.model,
            max_tokens=96,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": PROMPT},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
        )
        return (reply.choices[0].message.content or "").strip()


def load_captioner(spec: str) -> Captioner:
    """``openai-vision:BASE_URL#MODEL``."""
    prefix, _, rest = spec.partition(":")
    base_url, _, model = rest.partition("#")
    if prefix != "openai-vision" or not base_url or not model:
        raise InvalidInputError(
            f"bad vision model {spec!r}: expected openai-vision:BASE_URL#MODEL", field="vision"
        )
    return OpenAIVision(base_url, model)


def jpeg_bytes(image_rgb: np.ndarray, quality: int = 85) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(image_rgb).save(out, format="JPEG", quality=quality)
    return out.getvalue()
