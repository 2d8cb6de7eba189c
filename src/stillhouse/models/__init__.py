"""Model backends behind :class:`stillhouse.chat.ChatModel`.

``load_model(spec)`` is the entry point (``resolve(spec)`` + ``load_resolved`` when the resolved
artifact is wanted first); backends import their heavy libraries only when loaded.
"""

from stillhouse.models.registry import (
    LoadOptions,
    ModelSpec,
    ResolvedModel,
    load_model,
    load_resolved,
    parse_spec,
    resolve,
)

__all__ = [
    "LoadOptions",
    "ModelSpec",
    "ResolvedModel",
    "load_model",
    "load_resolved",
    "parse_spec",
    "resolve",
]
