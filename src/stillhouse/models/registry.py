"""Model specs → backends. The one place a string names a model.

A spec is parsed once (:func:`parse_spec`), resolved once against the file system and the catalog
into a :class:`ResolvedModel` (:func:`resolve`: the backend, the concrete ``.gguf`` file or folder,
the folder's manifest), and that artifact is what the loaders receive (:func:`load_resolved`);
nothing downstream looks at the string again. Grammar::

    spec := CATALOG_NAME                  llama.cpp on the assembled, verified GGUF
          | "llamacpp:" (PATH | NAME)     llama.cpp on a .gguf file (or catalog name)
          | ["llamacpp:"] PATH "?mmproj=" MMPROJ
                                          llama.cpp vision: a GGUF and its vision projector (libmtmd)
          | "hf:" (DIR | NAME | PATH)     transformers on a folder (+ LoRA adapter) or a converted GGUF;
                                          a vision-language folder (config.json with a vision_config)
                                          -> the transformers vision backend
          | "openai:" MODEL "@" BASE_URL  an OpenAI-compatible server
          | "bedrock:" MODEL_ID           Bedrock Converse (endpoint: STILLHOUSE_BEDROCK_ENDPOINT)
          | "fast-router:" DIR            the embedding router saved in DIR
          | PATH                          a .gguf file → llama.cpp; a folder holding model.gguf (a
                                          published student) → llama.cpp on it, with its vision
                                          projector when an mmproj*.gguf lies beside it; a folder
                                          holding fast_router.json → the fast router; one holding
                                          cut_router.json → the cut router (the student's first
                                          layers, fine-tuned); a folder → transformers

A folder's ``stillhouse.json`` (:mod:`stillhouse.models.manifest`) is read at resolution and handed
to the manifest hooks after loading; ``stillhouse.tasks.student_model`` registers the one that
serves a student in its task's student format, so this package never imports ``tasks``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, cast

from pydantic import BaseModel, ConfigDict

from stillhouse.chat import ChatModel
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.draft import PromptLookup
from stillhouse.models.manifest import StudentManifest, read_manifest

Backend = Literal[
    "llamacpp", "llamacpp-vision", "hf", "hf-vision", "openai", "bedrock", "fast-router", "cut-router"
]
# The spec prefixes; "hf-vision" and "llamacpp-vision" are never written: an "hf" vision folder and
# a llama.cpp spec with an mmproj resolve to them.
_PREFIXES: tuple[Backend, ...] = ("llamacpp", "hf", "openai", "bedrock", "fast-router")
# The file name a published model folder uses for its llama.cpp export.
SERVING_GGUF = "model.gguf"
# Beside it, a vision model's projector (llama.cpp's own files are named mmproj-MODEL-f16.gguf).
SERVING_MMPROJ = "mmproj*.gguf"
# The file that marks a saved fast router's folder (written by router.fast_router).
FAST_ROUTER_CONFIG = "fast_router.json"
FAST_ROUTER_PREFIX = "fast-router:"
# ... and a cut router's (router.cut_router), looked for before SERVING_GGUF: a folder that holds
# both is the router.
CUT_ROUTER_CONFIG = "cut_router.json"
_OPENAI = re.compile(r"^(?P<model>.+?)@(?P<base>https?://\S+)$")
# A llama.cpp model's vision projector, after its GGUF: llamacpp:MODEL.gguf?mmproj=MMPROJ.gguf
_MMPROJ = re.compile(r"^(?P<model>[^?]+)\?mmproj=(?P<mmproj>[^?]*)$")
_FORMS = (
    "a .gguf file, a model folder, llamacpp:PATH, llamacpp:PATH?mmproj=MMPROJ, hf:DIR, "
    "openai:MODEL@BASE_URL, bedrock:MODEL_ID or fast-router:DIR"
)


class ModelSpec(BaseModel):
    """A parsed model spec: which backend, and what it loads (path, catalog name or model id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend
    target: str
    base_url: str | None = None
    mmproj: str | None = None  # llamacpp: the vision projector GGUF


class ResolvedModel(BaseModel):
    """A spec resolved once: what its backend loads, concretely."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # the spec as written: the loaded model's name
    backend: Backend
    path: Path | None = None  # llamacpp: the .gguf file; hf: the transformers folder; fast-router: its folder
    mmproj: Path | None = None  # llamacpp-vision: the vision projector GGUF
    model_id: str | None = None  # openai / bedrock
    base_url: str | None = None  # openai
    manifest: StudentManifest | None = None


class LoadOptions(BaseModel):
    """How to load: ``n_ctx``/``n_threads``/``prefix_cache_bytes``/``skeleton``/``draft`` apply to llama.cpp,
    ``timeout_s`` to remote backends, ``api_key`` to OpenAI (default ``OPENAI_API_KEY``),
    ``endpoint_url``/``region`` to Bedrock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_ctx: int = 4096
    n_threads: int | None = None
    prefix_cache_bytes: int = 0
    timeout_s: float = 120.0
    api_key: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    skeleton: bool = True
    draft: PromptLookup | None = None  # speculative prompt-lookup drafts under skeleton decoding


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
    if _MMPROJ.match(text) and not Path(text).expanduser().exists():
        return _parse_llamacpp(text, text)
    path = Path(text).expanduser()
    if path.suffix == ".gguf":
        return ModelSpec(backend="llamacpp", target=str(path))
    if (path / CUT_ROUTER_CONFIG).is_file():
        return ModelSpec(backend="cut-router", target=str(path))
    if (path / SERVING_GGUF).is_file():
        # A published student ships both: llama.cpp is the fast path, ``hf:DIR`` still forces transformers.
        return ModelSpec(backend="llamacpp", target=str(path / SERVING_GGUF), mmproj=_folder_mmproj(path))
    if (path / FAST_ROUTER_CONFIG).is_file():
        return ModelSpec(backend="fast-router", target=str(path))
    if path.is_dir():
        return ModelSpec(backend="hf", target=str(path))
    raise NotFoundError(
        f"unknown model {text!r}: use a catalog name ({', '.join(sorted(_catalog_names()))}), {_FORMS}",
        field="model",
    )


def _folder_mmproj(folder: Path) -> str | None:
    """The vision projector beside a folder's model.gguf (a custom model served by llama.cpp with
    libmtmd), ``None`` for a text model; more than one is ambiguous."""
    found = sorted(folder.glob(SERVING_MMPROJ))
    if len(found) > 1:
        raise InvalidInputError(
            f"{folder} holds {len(found)} vision projectors ({', '.join(p.name for p in found)}); keep "
            f"one beside {SERVING_GGUF}, or name it: llamacpp:{folder / SERVING_GGUF}?mmproj=MMPROJ",
            field="model",
        )
    return str(found[0]) if found else None


def _parse_prefixed(backend: Backend, rest: str, spec: str) -> ModelSpec:
    if not rest:
        raise InvalidInputError(f"model spec {spec!r} names no model after '{backend}:'", field="model")
    if backend == "llamacpp":
        return _parse_llamacpp(rest, spec)
    if backend != "openai":
        return ModelSpec(backend=backend, target=rest)
    match = _OPENAI.match(rest)
    if not match:
        raise InvalidInputError(
            f"model spec {spec!r}: expected openai:MODEL@BASE_URL, e.g. openai:qwen2.5@http://localhost:8000/v1",
            field="model",
        )
    return ModelSpec(backend="openai", target=match["model"], base_url=match["base"])


def _parse_llamacpp(rest: str, spec: str) -> ModelSpec:
    """A llama.cpp target, with ``?mmproj=MMPROJ`` naming its vision projector (a path with a
    ``?`` of its own that exists is taken as it is)."""
    if "?" not in rest or Path(rest).expanduser().exists():
        return ModelSpec(backend="llamacpp", target=rest)
    match = _MMPROJ.match(rest)
    if not match or not match["mmproj"].strip() or not match["model"].strip():
        raise InvalidInputError(
            f"model spec {spec!r}: the one option of a llama.cpp model is its vision projector, "
            "e.g. llamacpp:/models/smolvlm.gguf?mmproj=/models/mmproj-smolvlm.gguf",
            field="model",
        )
    return ModelSpec(backend="llamacpp", target=match["model"].strip(), mmproj=match["mmproj"].strip())


# ----------------------------------------------------------------------------------- resolution


def resolve(spec: str, *, progress: bool = False) -> ResolvedModel:
    """Resolve ``spec`` once: a catalog GGUF is assembled (verified), a GGUF meant for transformers
    is converted (cached), a local folder's manifest is read. :class:`NotFoundError` when the file
    or folder it names is not there."""
    parsed = parse_spec(spec)
    return _RESOLVERS[parsed.backend](parsed, spec.strip(), progress)


def _resolve_llamacpp(parsed: ModelSpec, name: str, progress: bool) -> ResolvedModel:
    gguf, local = _gguf_file(parsed.target, progress)
    manifest = read_manifest(gguf.parent) if local else None
    if parsed.mmproj is None:
        return ResolvedModel(name=name, backend="llamacpp", path=gguf, manifest=manifest)
    mmproj = Path(parsed.mmproj).expanduser()
    if not mmproj.is_file():
        raise NotFoundError(f"no mmproj (vision projector) GGUF at {mmproj}", field="model")
    return ResolvedModel(name=name, backend="llamacpp-vision", path=gguf, mmproj=mmproj, manifest=manifest)


def _gguf_file(target: str, progress: bool) -> tuple[Path, bool]:
    """(the GGUF file ``target`` names, whether it is a local file rather than a catalog model)."""
    from stillhouse.models import catalog

    path = Path(target).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return path, True
    if target in _catalog_names():
        return catalog.pull(target, progress=progress), False
    raise NotFoundError(f"{target!r} is neither a GGUF catalog model nor a .gguf file", field="model")


def _resolve_hf(parsed: ModelSpec, name: str, progress: bool) -> ResolvedModel:
    """A transformers folder (``config.json`` or a LoRA ``adapter_config.json``) as it is; a catalog
    name or ``.gguf`` file de-quantized to fp32 safetensors once and cached."""
    from stillhouse.models import catalog
    from stillhouse.models.hf_vision import is_vision_folder

    path = Path(parsed.target).expanduser()
    if path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
        backend: Backend = "hf-vision" if is_vision_folder(path) else "hf"
        return ResolvedModel(name=name, backend=backend, path=path, manifest=read_manifest(path))
    if path.is_dir():
        raise NotFoundError(f"{path} has no config.json; not a transformers model", field="model")
    gguf, local = _gguf_file(parsed.target, progress)
    folder = catalog.converted_dir(gguf, None if local else parsed.target)
    return ResolvedModel(name=name, backend="hf", path=folder)


def _resolve_fast_router(parsed: ModelSpec, name: str, progress: bool) -> ResolvedModel:
    path = Path(parsed.target).expanduser()
    if not (path / FAST_ROUTER_CONFIG).is_file():
        raise NotFoundError(f"{path} holds no fast router ({FAST_ROUTER_CONFIG})", field="model")
    return ResolvedModel(name=name, backend="fast-router", path=path)


def _resolve_cut_router(parsed: ModelSpec, name: str, progress: bool) -> ResolvedModel:
    return ResolvedModel(name=name, backend="cut-router", path=Path(parsed.target).expanduser())


def _resolve_remote(parsed: ModelSpec, name: str, progress: bool) -> ResolvedModel:
    return ResolvedModel(name=name, backend=parsed.backend, model_id=parsed.target, base_url=parsed.base_url)


_RESOLVERS: dict[Backend, Callable[[ModelSpec, str, bool], ResolvedModel]] = {
    "llamacpp": _resolve_llamacpp,
    "hf": _resolve_hf,
    "fast-router": _resolve_fast_router,
    "cut-router": _resolve_cut_router,
    "openai": _resolve_remote,
    "bedrock": _resolve_remote,
}


# -------------------------------------------------------------------------------------- loading

ManifestHook = Callable[[ChatModel, StudentManifest], ChatModel]
_MANIFEST_HOOKS: list[ManifestHook] = []
# Modules that register manifest hooks, imported the first time a folder with a manifest is loaded
# (a string, so that ``models`` has no import arrow up to ``tasks``).
_HOOK_MODULES = ("stillhouse.tasks.student_model",)


def register_manifest_hook(hook: ManifestHook) -> None:
    """Have ``hook(model, manifest)`` wrap every model loaded from a folder with a manifest."""
    if hook not in _MANIFEST_HOOKS:
        _MANIFEST_HOOKS.append(hook)


def _apply_manifest_hooks(model: ChatModel, manifest: StudentManifest) -> ChatModel:
    for module in _HOOK_MODULES:
        importlib.import_module(module)
    for hook in _MANIFEST_HOOKS:
        model = hook(model, manifest)
    return model


def load_resolved(resolved: ResolvedModel, options: LoadOptions | None = None) -> ChatModel:
    """The model a resolved spec names, wrapped by the manifest hooks when its folder has a manifest."""
    model = _LOADERS[resolved.backend](resolved, options or LoadOptions())
    return model if resolved.manifest is None else _apply_manifest_hooks(model, resolved.manifest)


def load_model(spec: str, **options: object) -> ChatModel:
    """Load the model ``spec`` names, e.g. ``smollm2-135m``, ``llamacpp:/m/x.gguf``, ``hf:/runs/out``,
    ``openai:gpt-4o-mini@https://api.openai.com/v1``, ``bedrock:anthropic.claude-3-haiku-20240307-v1:0``,
    ``fast-router:runs/demo/models/fast-router``; ``options`` are :class:`LoadOptions` fields."""
    return load_resolved(resolve(spec), LoadOptions.model_validate(options))


def _load_llamacpp(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.llamacpp import LlamaCppModel

    assert resolved.path is not None  # set by every local resolver
    return LlamaCppModel(
        resolved.path,
        name=resolved.name,
        n_ctx=options.n_ctx,
        n_threads=options.n_threads,
        prefix_cache_bytes=options.prefix_cache_bytes,
        skeleton=options.skeleton,
        draft=options.draft or (resolved.manifest.decoding.draft if resolved.manifest else None),
    )


def _load_llamacpp_vision(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.llamacpp_vision import LlamaCppVisionModel

    assert resolved.path is not None and resolved.mmproj is not None  # set by _resolve_llamacpp
    return LlamaCppVisionModel(
        resolved.path, resolved.mmproj, name=resolved.name, n_ctx=options.n_ctx, n_threads=options.n_threads
    )


def _load_hf(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.hf import TransformersModel

    assert resolved.path is not None
    return TransformersModel(resolved.path, name=resolved.name)


def _load_hf_vision(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.hf_vision import VisionTransformersModel

    assert resolved.path is not None
    return VisionTransformersModel(resolved.path, name=resolved.name)


def _load_openai(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.openai_http import OpenAIHTTPModel

    assert resolved.model_id is not None and resolved.base_url is not None  # guaranteed by parse_spec
    return OpenAIHTTPModel(
        resolved.model_id, resolved.base_url, api_key=options.api_key, timeout_s=options.timeout_s
    )


def _load_bedrock(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    from stillhouse.models.bedrock import BedrockModel

    assert resolved.model_id is not None
    return BedrockModel(
        resolved.model_id,
        endpoint_url=options.endpoint_url,
        region=options.region,
        timeout_s=options.timeout_s,
    )


def _load_fast_router(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    # The router is the video router's own machinery; imported by name so ``models`` stays below ``tasks``.
    module = importlib.import_module("stillhouse.router.fast_router")
    assert resolved.path is not None
    return module.FastRouterModel.load(resolved.path)  # type: ignore[no-any-return]


def _load_cut_router(resolved: ResolvedModel, options: LoadOptions) -> ChatModel:
    module = importlib.import_module("stillhouse.router.cut_router")  # by name, as the fast router
    assert resolved.path is not None
    return module.CutRouterModel.load(resolved.path)  # type: ignore[no-any-return]


_LOADERS: dict[Backend, Callable[[ResolvedModel, LoadOptions], ChatModel]] = {
    "llamacpp": _load_llamacpp,
    "llamacpp-vision": _load_llamacpp_vision,
    "hf": _load_hf,
    "hf-vision": _load_hf_vision,
    "openai": _load_openai,
    "bedrock": _load_bedrock,
    "fast-router": _load_fast_router,
    "cut-router": _load_cut_router,
}
