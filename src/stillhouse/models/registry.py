"""Model specs → backends. The one place a string names a model.

Grammar (``load_model`` docstring has the examples)::

    spec := CATALOG_NAME                  llama.cpp on the assembled, verified GGUF
          | "llamacpp:" (PATH | NAME)     llama.cpp on a .gguf file (or catalog name)
          | "hf:" (DIR | NAME)            transformers on a folder (+ LoRA adapter) or a converted GGUF
          | "openai:" MODEL "@" BASE_URL  an OpenAI-compatible server
          | "bedrock:" MODEL_ID           Bedrock Converse (endpoint: STILLHOUSE_BEDROCK_ENDPOINT)
          | PATH                          a .gguf file → llama.cpp; a folder holding model.gguf (a
                                          published student) → llama.cpp on it; a folder → transformers
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict

from stillhouse.chat import ChatModel
from stillhouse.errors import InvalidInputError, NotFoundError

Backend = Literal["llamacpp", "hf", "openai", "bedrock"]
_PREFIXES: tuple[Backend, ...] = ("llamacpp", "hf", "openai", "bedrock")
# The file name a published model folder uses for its llama.cpp export.
SERVING_GGUF = "model.gguf"
_OPENAI = re.compile(r"^(?P<model>.+?)@(?P<base>https?://\S+)$")


class ModelSpec(BaseModel):
    """A parsed model spec: which backend, and what it loads (path, catalog name or model id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend
    target: str
    base_url: str | None = None


def _catalog_names() -> set[str]:
    from stillhouse.models.catalog import CATALOG

    return {name for name, entry in CATALOG.items() if entry.kind == "gguf"}


def parse_spec(spec: str) -> ModelSpec:
    """Parse a model spec. Only bare local paths touch the file system (to tell a folder from a typo)."""
    text = spec.strip()
    if not text:
        raise InvalidInputError("empty model spec", field="model")
    prefix, sep, rest = text.partition(":")
    if sep and prefix in _PREFIXES:
        return _parse_prefixed(cast(Backend, prefix), rest.strip(), text)
    if text in _catalog_names():
        return ModelSpec(backend="llamacpp", target=text)
    path = Path(text).expanduser()
    if path.suffix == ".gguf":
        return ModelSpec(backend="llamacpp", target=str(path))
    if (path / SERVING_GGUF).is_file():
        # A published student ships both: llama.cpp is the fast path, ``hf:DIR`` still forces transformers.
        return ModelSpec(backend="llamacpp", target=str(path / SERVING_GGUF))
    if path.is_dir():
        return ModelSpec(backend="hf", target=str(path))
    raise NotFoundError(
        f"unknown model {text!r}: use a catalog name ({', '.join(sorted(_catalog_names()))}), a .gguf file, "
        "a model folder, llamacpp:PATH, hf:DIR, openai:MODEL@BASE_URL or bedrock:MODEL_ID",
        field="model",
    )


def _parse_prefixed(backend: Backend, rest: str, spec: str) -> ModelSpec:
    if not rest:
        raise InvalidInputError(f"model spec {spec!r} names no model after '{backend}:'", field="model")
    if backend != "openai":
        return ModelSpec(backend=backend, target=rest)
    match = _OPENAI.match(rest)
    if not match:
        raise InvalidInputError(
            f"model spec {spec!r}: expected openai:MODEL@BASE_URL, e.g. openai:qwen2.5@http://localhost:8000/v1",
            field="model",
        )
    return ModelSpec(backend="openai", target=match["model"], base_url=match["base"])


def load_model(
    spec: str,
    *,
    n_ctx: int = 4096,
    n_threads: int | None = None,
    prefix_cache_bytes: int = 0,
    timeout_s: float = 120.0,
    api_key: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    skeleton: bool = True,
) -> ChatModel:
    """Load the model ``spec`` names, e.g. ``smollm2-135m``, ``llamacpp:/m/x.gguf``, ``hf:/runs/out``,
    ``openai:gpt-4o-mini@https://api.openai.com/v1``, ``bedrock:anthropic.claude-3-haiku-20240307-v1:0``.

    ``n_ctx``/``n_threads``/``prefix_cache_bytes``/``skeleton`` apply to llama.cpp, ``timeout_s`` to remote
    backends, ``api_key`` to OpenAI (default ``OPENAI_API_KEY``), ``endpoint_url``/``region`` to Bedrock.
    """
    parsed = parse_spec(spec)
    if parsed.backend in ("llamacpp", "hf"):
        from stillhouse.models.student import wrap_if_student

        model = _load_local(
            parsed,
            spec.strip(),
            n_ctx=n_ctx,
            n_threads=n_threads,
            prefix_cache_bytes=prefix_cache_bytes,
            skeleton=skeleton,
        )
        folder = _model_folder(parsed.target)
        return model if folder is None else wrap_if_student(model, folder)
    if parsed.backend == "openai":
        from stillhouse.models.openai_http import OpenAIHTTPModel

        assert parsed.base_url is not None  # guaranteed by parse_spec
        return OpenAIHTTPModel(parsed.target, parsed.base_url, api_key=api_key, timeout_s=timeout_s)
    from stillhouse.models.bedrock import BedrockModel

    return BedrockModel(parsed.target, endpoint_url=endpoint_url, region=region, timeout_s=timeout_s)


def _load_local(
    parsed: ModelSpec,
    name: str,
    *,
    n_ctx: int,
    n_threads: int | None,
    prefix_cache_bytes: int,
    skeleton: bool,
) -> ChatModel:
    if parsed.backend == "llamacpp":
        from stillhouse.models.catalog import resolve_gguf
        from stillhouse.models.llamacpp import LlamaCppModel

        return LlamaCppModel(
            resolve_gguf(parsed.target),
            name=name,
            n_ctx=n_ctx,
            n_threads=n_threads,
            prefix_cache_bytes=prefix_cache_bytes,
            skeleton=skeleton,
        )
    from stillhouse.models.catalog import training_dir
    from stillhouse.models.hf import TransformersModel

    return TransformersModel(training_dir(parsed.target), name=name)


def _model_folder(target: str) -> Path | None:
    """Where a local model's manifest would be: the folder itself, or the folder of its GGUF file
    (``None`` for a catalog name)."""
    path = Path(target).expanduser()
    if not path.exists():
        return None
    return path.parent if path.suffix == ".gguf" else path
