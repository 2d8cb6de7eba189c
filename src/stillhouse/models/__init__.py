"""Model backends behind :class:`stillhouse.chat.ChatModel`, the offline catalog, embeddings.

``load_model(spec)`` is the entry point; backends import their heavy libraries only when loaded.
"""

from stillhouse.models.registry import ModelSpec, load_model, parse_spec

__all__ = ["ModelSpec", "load_model", "parse_spec"]
