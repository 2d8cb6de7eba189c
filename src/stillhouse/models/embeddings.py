"""Text embeddings: all-MiniLM-L6-v2 from its package (offline), or a deterministic hashing embedder.

Every embedder returns float32 rows of unit L2 norm (a zero row for text with no features), so a dot
product is a cosine similarity.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from stillhouse.errors import InvalidInputError, MissingDependencyError, NotFoundError
from stillhouse.models.hf_loading import one_load_at_a_time


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised vectors of width ``dim``."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


def embedder_identity(spec: str, embedder: Embedder) -> tuple[str, str, int]:
    """What makes two embedders interchangeable: the ``load_embedder`` spec that built it, its name
    and width. Two vectors of one text are the same vector only when these are equal."""
    return (spec.strip(), embedder.name, int(embedder.dim))


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit norm; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


class HashingEmbedder:
    """Character n-grams and words hashed into ``dim`` signed buckets (the "hashing trick").

    Pure numpy and deterministic across processes (blake2b, not Python's salted ``hash``): for unit
    tests and as a no-dependency fallback. Similar spellings land near each other; it knows no meaning.
    """

    def __init__(self, dim: int = 256, ngram: int = 3) -> None:
        if dim < 8 or ngram < 1:
            raise InvalidInputError("hashing embedder needs dim >= 8 and ngram >= 1")
        self.dim = dim
        self.ngram = ngram
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[str]:
        words = re.findall(r"\w+", text.lower())
        grams = []
        for word in words:
            padded = f"<{word}>"
            grams += [padded[i : i + self.ngram] for i in range(max(1, len(padded) - self.ngram + 1))]
        return words + grams

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float64)
        for feature in self._features(text):
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            vec[value % self.dim] += 1.0 if (value >> 63) & 1 else -1.0
        return vec

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit-norm row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(t) for t in texts]))


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder (all-MiniLM-L6-v2 by default), CPU."""

    def __init__(self, path: str | Path, *, name: str | None = None, batch_size: int = 64) -> None:
        # The hub is never reachable here: fail fast instead of timing out on a download attempt.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise MissingDependencyError("embeddings need: pip install 'stillhouse[embed]'") from exc
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise NotFoundError(f"no sentence-transformers model at {self.path}", field="embedder")
        with one_load_at_a_time():  # it builds its transformer with from_pretrained
            self._model = SentenceTransformer(str(self.path), device="cpu")
        self.dim = int(self._model.get_embedding_dimension())
        self.name = name or self.path.name
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit-norm row per text, batched."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


class GgufEmbedder:
    """A BERT GGUF (see :mod:`stillhouse.models.bert_gguf`) run by llama.cpp with its own pooling.

    The same all-MiniLM-L6-v2 as :class:`SentenceTransformerEmbedder` (cosine ≥ 0.99999 between the
    two on the router's dev queries), in C instead of torch: one short query carries no torch
    dispatch overhead, so it answers faster (``benchmarks/bench_router_latency.py``; README).
    """

    def __init__(self, path: str | Path, *, name: str | None = None, n_threads: int | None = None) -> None:
        from stillhouse.models.llamacpp_load import default_threads, load_llama

        self.path = Path(path)
        self._llm = load_llama(self.path, n_ctx=512, n_threads=n_threads or default_threads(), embedding=True)
        self.dim = int(self._llm.n_embd())
        self.name = name or self.path.stem
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """One unit-norm row per text (longer texts are cut at the model's 512 positions)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._llm.embed(list(texts), truncate=True)
        return l2_normalise(np.asarray(vectors, dtype=np.float32))


def minilm_gguf() -> Path:
    """The packaged all-MiniLM-L6-v2 as a GGUF under ``STILLHOUSE_HOME/models``, written on first use."""
    from stillhouse import paths
    from stillhouse.models.bert_gguf import export_bert_gguf
    from stillhouse.models.catalog import pull

    out = paths.models_dir() / "all-minilm-l6-v2.f16.gguf"
    return out if out.is_file() else export_bert_gguf(pull("all-minilm-l6-v2"), out)


def load_embedder(spec: str = "minilm") -> Embedder:
    """``"minilm"`` (packaged all-MiniLM-L6-v2, torch), ``"minilm-gguf"`` (the same through llama.cpp),
    ``"hashing"`` / ``"hashing:DIM"``, a local folder, or a GGUF encoder file (llama.cpp with the
    file's pooling: a BERT GGUF, or a student cut to its first layers by
    :func:`stillhouse.models.gguf_layers.truncate_gguf`)."""
    text = spec.strip()
    if text in ("minilm", "all-minilm-l6-v2"):
        from stillhouse.models.catalog import pull

        return SentenceTransformerEmbedder(pull("all-minilm-l6-v2"), name="all-minilm-l6-v2")
    if text == "minilm-gguf":
        return GgufEmbedder(minilm_gguf(), name="all-minilm-l6-v2-gguf")
    if text == "hashing" or text.startswith("hashing:"):
        _, _, dim = text.partition(":")
        if dim and not dim.isdigit():
            raise InvalidInputError(f"bad embedder spec {spec!r}: expected hashing:DIM", field="embedder")
        return HashingEmbedder(int(dim) if dim else 256)
    path = Path(text).expanduser()
    if path.is_dir():
        return SentenceTransformerEmbedder(path)
    if path.is_file() and path.suffix == ".gguf":
        return GgufEmbedder(path)
    raise NotFoundError(
        f"unknown embedder {spec!r}: use 'minilm', 'minilm-gguf', 'hashing[:DIM]', a model folder "
        "or an encoder's .gguf file",
        field="embedder",
    )
