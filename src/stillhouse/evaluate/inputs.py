"""The edges of an evaluation run: labelling the ``--model`` options (each spec is then loaded by
:func:`stillhouse.models.load_model`, which knows every form)."""

from __future__ import annotations

import re

from stillhouse.errors import InvalidInputError
from stillhouse.models.registry import FAST_ROUTER_PREFIX

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
