"""llama.cpp vision backend: a GGUF language model and its ``mmproj`` vision projector, run through
llama-cpp-python's multimodal chat handler (``MTMDChatHandler``, over llama.cpp's libmtmd).

The handler renders the conversation with the GGUF's own chat template, an image part becoming the
library's media marker, and libmtmd replaces each marker with that image's embeddings, laid out
with the family's own image tokens. Images travel as ``data:`` URIs (the handler would fetch any
other URL itself; a record's images are already bytes). Decoding, stop strings, streaming and the
accounting are the text backend's (:class:`~stillhouse.models.llamacpp.LlamaCppModel`); only the
request's messages differ, and skeleton decoding is off (it renders text-only prompts itself).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from stillhouse.chat import GenerationParams, Image, Message
from stillhouse.errors import CorruptModelError, MissingDependencyError
from stillhouse.models.llamacpp import LlamaCppModel

# How to get a llama-cpp-python with libmtmd: the Makefile's target, or pip by hand. pip's wheel
# cache does not key on CMAKE_ARGS, hence --no-cache-dir.
MTMD_INSTALL = (
    "make vision-llamacpp, or: CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install --no-cache-dir "
    "--force-reinstall --no-deps llama-cpp-python"
)
# Formats libmtmd's decoder (stb_image) reads from memory; others are re-encoded as PNG first.
_DECODED_FORMATS = {"png", "jpeg", "gif"}


def mtmd_module() -> Any:
    """llama-cpp-python's bindings of libmtmd; :class:`MissingDependencyError` when the installed
    build has no multimodal library (built with ``-DLLAVA_BUILD=OFF``) or no llama-cpp-python."""
    try:
        import llama_cpp.mtmd_cpp as mtmd_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            f"the llama.cpp vision backend needs llama-cpp-python: {MTMD_INSTALL}"
        ) from exc
    except (OSError, RuntimeError) as exc:  # FileNotFoundError: the shared library is not there
        raise MissingDependencyError(
            f"this llama-cpp-python was built without its multimodal library (libmtmd): {MTMD_INSTALL}"
        ) from exc
    import ctypes

    from llama_cpp._logger import llama_log_callback

    # libmtmd logs every image's layout and timings to stderr by itself; through llama-cpp-python's
    # logger it says only what llama.cpp's own logs say (errors, unless verbose).
    mtmd_cpp.mtmd_log_set(llama_log_callback, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(llama_log_callback, ctypes.c_void_p(0))
    return mtmd_cpp


def data_uri(image: Image) -> str:
    """The image as a ``data:`` URI, in a format libmtmd decodes."""
    data, fmt = image.data, image.format
    if fmt not in _DECODED_FORMATS:
        from stillhouse.models.hf_vision import to_pil

        buffer = io.BytesIO()
        to_pil(image).save(buffer, format="PNG")
        data, fmt = buffer.getvalue(), "png"
    return f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"


def to_mtmd_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Domain messages -> the handler's chat messages: content parts, each image (an ``image_url``
    part) before its turn's text, as :func:`~stillhouse.models.hf_vision.processor_chat` orders
    them; every turn is a list of parts, which vision chat templates expect."""
    chat = []
    for m in messages:
        parts: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": data_uri(image)}} for image in m.images
        ]
        if m.content or not parts:
            parts.append({"type": "text", "text": m.content})
        chat.append({"role": m.role, "content": parts})
    return chat


class LlamaCppVisionModel(LlamaCppModel):
    """A GGUF with its ``mmproj``, one generation at a time; text-only turns work as well."""

    def __init__(
        self,
        path: str | Path,
        mmproj: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
    ) -> None:
        mtmd_module()  # before loading the language model: say what is missing first
        from llama_cpp.llama_chat_format import MTMDChatHandler

        self.mmproj = Path(mmproj)
        super().__init__(path, name=name, n_ctx=n_ctx, n_threads=n_threads, skeleton=False)
        try:
            handler = MTMDChatHandler(clip_model_path=str(self.mmproj), verbose=False, use_gpu=False)
            # The handler loads the projector on its first request; loading it now makes a wrong
            # or mismatched mmproj fail at load, not in the middle of serving.
            handler._init_mtmd_context(self._llm)
        except ValueError as exc:
            raise CorruptModelError(f"llama.cpp cannot load the mmproj {self.mmproj}: {exc}") from exc
        self._llm.chat_handler = handler

    def _request(self, messages: list[Message], params: GenerationParams) -> dict[str, Any]:
        """The text backend's request with the messages in content parts, images included."""
        text_only = [m.model_copy(update={"images": ()}) for m in messages]
        return {**super()._request(text_only, params), "messages": to_mtmd_messages(messages)}
