"""Opening a GGUF with llama.cpp: the thread count and the loader every llama.cpp model shares
(the chat model in :mod:`stillhouse.models.llamacpp`, the encoders in
:mod:`stillhouse.models.embeddings`), with llama.cpp's failures translated once, here."""

from __future__ import annotations

import os
from pathlib import Path

from stillhouse.errors import CorruptModelError, InvalidInputError, MissingDependencyError

THREADS_ENV = "STILLHOUSE_LLAMA_THREADS"


def default_threads() -> int:
    """``STILLHOUSE_LLAMA_THREADS`` or every core.

    On a machine whose cores are busy with other work, fewer threads are much faster: llama.cpp's
    threads wait for each other at every layer, so one preempted thread stalls them all (figures in
    benchmarks/README.md).
    """
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise InvalidInputError(f"{THREADS_ENV} must be a positive integer, not {env!r}")
        return int(env)
    return os.cpu_count() or 1


def load_llama(path: Path, *, n_ctx: int, n_threads: int, embedding: bool = False):  # -> llama_cpp.Llama
    """Open a GGUF with llama.cpp (as an encoder with ``embedding``), translating its failures into
    stillhouse errors."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise MissingDependencyError(
            "the llama.cpp backend needs llama-cpp-python: "
            "CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install 'stillhouse[llama]'"
        ) from exc
    if not path.is_file():
        raise InvalidInputError(f"no GGUF file at {path}", field="model")
    try:
        # Prompt evaluation gets the same thread count: llama-cpp-python would otherwise use every
        # core for it, whatever n_threads says.
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            embedding=embedding,
            verbose=False,
        )
    except (ValueError, RuntimeError) as exc:
        raise CorruptModelError(f"llama.cpp cannot load {path}: {exc}") from exc
