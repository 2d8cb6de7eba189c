"""Image-text embeddings: a local CLIP or SigLIP folder through transformers (none ships offline).

One model, two towers: :meth:`ImageTextEmbedder.embed_images` embeds keyframes with the image
tower, :meth:`ImageTextEmbedder.embed` embeds a text query with the text tower into the same space,
so a text query searches keyframe vectors. Rows are L2-normalised like every :class:`Embedder`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from stillhouse.errors import MissingDependencyError, NotFoundError
from stillhouse.models.embeddings import l2_normalise
from stillhouse.models.hf_loading import one_load_at_a_time

_BATCH = 32


class ImageTextEmbedder:
    """A CLIP-style model from ``path``: its tokenizer, image processor and both towers, on CPU."""

    def __init__(self, path: str | Path, *, name: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a download attempt
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.path = Path(path).expanduser()
        if not (self.path / "config.json").is_file():
            raise NotFoundError(
                f"no image-text model at {self.path} (a local CLIP or SigLIP folder)", field="image_embedder"
            )
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModel, AutoTokenizer
        except ImportError as exc:
            raise MissingDependencyError("image embeddings need: pip install 'stillhouse[train]'") from exc
        self._torch = torch
        with one_load_at_a_time():
            self._model: Any = AutoModel.from_pretrained(str(self.path)).eval()
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(self.path))
        self._images: Any = AutoImageProcessor.from_pretrained(str(self.path))
        config = self._model.config  # CLIP projects both towers; SigLIP's share the text width
        self.dim = int(getattr(config, "projection_dim", None) or config.text_config.hidden_size)
        self.name = name or self.path.name
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Texts through the text tower: one unit-norm row each."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit = int(self._model.config.text_config.max_position_embeddings)
        with self._lock, self._torch.inference_mode():
            batch = self._tokenizer(
                list(texts), padding="max_length", truncation=True, max_length=limit, return_tensors="pt"
            )
            features = _tensor(self._model.get_text_features(**batch))
        return l2_normalise(features.float().numpy())

    def embed_images(self, paths: list[str]) -> tuple[np.ndarray, list[bool]]:
        """Keyframes through the image tower: ``(rows, readable)``; a file that is missing or is not
        an image gets a zero row and ``False`` (the segment is indexed without a keyframe vector)."""
        from PIL import Image, UnidentifiedImageError

        out = np.zeros((len(paths), self.dim), dtype=np.float32)
        images, where = [], []
        for i, path in enumerate(paths):
            try:
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
                where.append(i)
            except (OSError, UnidentifiedImageError):
                continue
        for start in range(0, len(images), _BATCH):
            with self._lock, self._torch.inference_mode():
                pixels = self._images(images=images[start : start + _BATCH], return_tensors="pt")
                features = _tensor(self._model.get_image_features(pixel_values=pixels["pixel_values"]))
            out[where[start : start + _BATCH]] = l2_normalise(features.float().numpy())
        readable = [False] * len(paths)
        for i in where:
            readable[i] = True
        return out, readable


def _tensor(output: Any) -> Any:
    """The projected features: transformers 5 returns them as the output's ``pooler_output``, 4 as
    the tensor itself."""
    return getattr(output, "pooler_output", output)


def load_image_embedder(spec: str) -> ImageTextEmbedder:
    """A local CLIP/SigLIP folder (the only form: no image model is packaged)."""
    return ImageTextEmbedder(spec)
