"""The edges of an evaluation run: turning model options into models."""

from __future__ import annotations

import re
from pathlib import Path

from stillhouse.chat import ChatModel
from stillhouse.errors import InvalidInputError

FAST_ROUTER_PREFIX = "fast-router:"
_LABEL = re.compile(r"^[A-Za-z0-9_.\-]+$")


def split_model_option(option: str) -> tuple[str, str]:
    """``LABEL=SPEC`` -> (label, spec); a bare ``SPEC`` is labelled by its last path part.

    Only a simple word before the first ``=`` counts as a label, so a spec that itself contains
    ``=`` (an URL query) is not split by mistake.
    """
    label, sep, spec = option.partition("=")
    if sep and _LABEL.match(label) and spec:
        return label, spec
    return _default_label(option), option


def _default_label(spec: str) -> str:
    tail = spec.rstrip("/").rsplit("/", 1)[-1]
    return tail.removeprefix(FAST_ROUTER_PREFIX) or spec


def labelled_models(options: list[str]) -> dict[str, str]:
    """Label -> spec for every ``--model`` option, refusing duplicate labels."""
    out: dict[str, str] = {}
    for option in options:
        label, spec = split_model_option(option)
        if label in out:
            raise InvalidInputError(f"two models are labelled {label!r}; name them LABEL=SPEC", field="model")
        out[label] = spec
    return out


def resolve_model(spec: str) -> ChatModel:
    """A model for ``spec``: a fast-router folder (``fast-router:DIR`` or a folder holding its config)
    loads the embedding router; anything else goes to :func:`stillhouse.models.load_model`."""
    from stillhouse.router.fast_router import CONFIG_FILE, FastRouterModel

    path = Path(spec.removeprefix(FAST_ROUTER_PREFIX)).expanduser()
    if spec.startswith(FAST_ROUTER_PREFIX) or (path / CONFIG_FILE).is_file():
        return FastRouterModel.load(path)
    from stillhouse.models import load_model

    return load_model(spec)
