"""Lenient reading of router answers, with the contract rule each answer broke.

Models answer in many shapes: bare JSON (the contract), JSON in a ```json fence, JSON inside prose,
Python-style dicts with single quotes or trailing commas, percentages (``60`` or ``"60%"``), objects
wrapped in another object (``{"video": {...}}``), or truncated JSON. The parser finds the weights in
all of these and reports, in ``ParseResult.errors``, every contract rule the answer broke:

``not_json``            no JSON object could be read (weights may still be scraped from the text)
``nested_object``       the weights sit inside another object instead of at the top level
``missing_key:<k>``     a modality or ``reasoning`` is absent
``not_number:<m>``      a weight is not a JSON number (a string such as ``"0.6"`` or ``"60%"``)
``out_of_range:<m>``    a weight is outside [0, 1] (percentages land here)
``sum_not_1``           the four weights do not sum to 1.0 within ±0.01
``empty_reasoning``     the reasoning is blank or not a string

Fences and surrounding prose are tolerated (not an error): the contract is about the object.
With ``normalize=False`` the value is returned only for a compliant answer. With ``normalize=True`` the
value is returned whenever four usable weights were found: percentages are scaled to fractions,
negatives clamp to 0 and the weights are rescaled to sum to 1, while ``errors`` still lists what was
wrong (so ``ok`` stays false).
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from stillhouse.tasks.base import ParseResult
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality
from stillhouse.tasks.video_router.schema import SUM_TOLERANCE
from stillhouse.tasks.video_router.weights import normalise

_FENCE = re.compile(r"```[ \t]*(?:json|JSON|javascript|js|python)?[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_]\w*)\s*:")
_BARE_PERCENT = re.compile(r"(:\s*)(-?\d+(?:\.\d+)?)\s*%")
_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?|-?\.\d+)\s*(%?)\s*$")
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})
# Scraping "visual: 0.6" / "**Audio**: 20%" from prose or truncated JSON.
_KV = {
    m: re.compile(rf"[\"'*]*{m}[\"'*]*\s*[:=]\s*[\"']?(-?\d+(?:\.\d+)?|-?\.\d+)\s*(%?)", re.IGNORECASE)
    for m in MODALITIES
}
_KV_REASONING = re.compile(
    r"[\"']?reasoning[\"']?\s*[:=]\s*(?:\"((?:[^\"\\]|\\.)*)|'((?:[^'\\]|\\.)*))", re.IGNORECASE
)
# ast.literal_eval is safe but recursive; bound its input so hostile text cannot blow the stack.
_MAX_LITERAL_CHARS = 20_000


def parse_answer(text: str, *, normalize: bool = False) -> ParseResult:
    """Read one answer; see the module docstring for the error codes and the ``normalize`` path."""
    obj, errors = _locate_object(text)
    if obj is None:
        obj = _scrape(text)
        errors = ["not_json"]
    weights, reasoning, field_errors = _check_fields(obj)
    errors += field_errors
    if not normalize:
        return ParseResult(value=None if errors else {**weights, "reasoning": reasoning}, errors=errors)
    fixed = _repair(weights)
    if fixed is None:
        return ParseResult(value=None, errors=errors)
    return ParseResult(value={**fixed, "reasoning": reasoning or ""}, errors=errors)


def _locate_object(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The first JSON object that carries the weights, and whether it was nested."""
    fallback: dict[str, Any] | None = None
    for candidate in _candidates(text):
        loaded = _load_lenient(candidate)
        if isinstance(loaded, dict) and any(m in loaded for m in MODALITIES):
            return loaded, []
        nested = _find_nested(loaded)
        if nested is not None:
            return nested, ["nested_object"]
        if isinstance(loaded, dict) and fallback is None:
            fallback = loaded
    return fallback, []


def _candidates(text: str) -> list[str]:
    """Fenced blocks first, then the whole text, then every balanced ``{...}`` span, de-duplicated."""
    found = [m.group(1).strip() for m in _FENCE.finditer(text)]
    found.append(text.strip())
    found += _brace_spans(text)
    return list(dict.fromkeys(c for c in found if c))


def _brace_spans(text: str, limit: int = 32) -> list[str]:
    """Balanced ``{...}`` substrings (outermost first), aware of quoted strings and escapes."""
    spans: list[str] = []
    start = text.find("{")
    while start != -1 and len(spans) < limit:
        end = _matching_brace(text, start)
        if end is not None:
            spans.append(text[start : end + 1])
        start = text.find("{", start + 1)
    return spans


def _matching_brace(text: str, start: int) -> int | None:
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'" and not (ch == "'" and text[i - 1 : i].isalpha()):  # apostrophe in a word
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _load_lenient(candidate: str) -> Any:
    """JSON, then progressively looser readings; ``None`` when nothing reads."""
    text = candidate.translate(_SMART_QUOTES)
    attempts = (
        lambda s: json.loads(s),
        lambda s: json.loads(_TRAILING_COMMA.sub(r"\1", s)),
        lambda s: ast.literal_eval(s) if len(s) <= _MAX_LITERAL_CHARS else None,
        lambda s: json.loads(_TRAILING_COMMA.sub(r"\1", _BARE_KEY.sub(r'\1"\2":', s))),
        lambda s: json.loads(_TRAILING_COMMA.sub(r"\1", _BARE_PERCENT.sub(r'\1"\2%"', s))),
    )
    for attempt in attempts:
        try:
            loaded = attempt(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(loaded, (dict, list)):
            return loaded
    return None


def _find_nested(obj: Any, depth: int = 0) -> dict[str, Any] | None:
    """A dict below the top level holding at least two modality keys (e.g. ``{"video": {...}}``)."""
    if depth > 4:
        return None
    children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else []
    for child in children:
        if isinstance(child, dict) and sum(m in child for m in MODALITIES) >= 2:
            return child
        found = _find_nested(child, depth + 1)
        if found is not None:
            return found
    return None


def _scrape(text: str) -> dict[str, Any] | None:
    """Weights written as ``key: value`` in prose or truncated JSON; ``None`` when none are there."""
    found: dict[str, Any] = {}
    for m, pattern in _KV.items():
        match = pattern.search(text)
        if match:  # numbers in prose are numbers: only the missing JSON is reported, not each value
            found[m] = float(match.group(1)) / (100 if match.group(2) else 1)
    reasoning = _KV_REASONING.search(text)
    if reasoning:
        found["reasoning"] = reasoning.group(1) if reasoning.group(1) is not None else reasoning.group(2)
    return found or None


def _as_number(raw: Any) -> tuple[float | None, bool]:
    """``(value, is_json_number)``; strings like ``"0.6"`` and ``"60%"`` convert but are flagged."""
    if isinstance(raw, bool):
        return None, False
    if isinstance(raw, (int, float)):
        return (float(raw), True) if math.isfinite(raw) else (None, False)
    if isinstance(raw, str):
        match = _NUMBER.match(raw)
        if match:
            value = float(match.group(1))
            return (value / 100 if match.group(2) else value), False
    return None, False


def _check_fields(obj: dict[str, Any] | None) -> tuple[dict[Modality, float | None], Any, list[str]]:
    """Per-field contract checks; returns the (possibly converted) weights and the reasoning.

    A key spelled with other case or spaces (``"Visual "``) still yields its value for the
    ``normalize`` path, but counts as missing for the contract.
    """
    obj = obj or {}
    loose = {str(k).strip().casefold(): v for k, v in obj.items()}
    errors: list[str] = []
    weights: dict[Modality, float | None] = {}
    for m in MODALITIES:
        if m not in obj:
            errors.append(f"missing_key:{m}")
        raw = obj[m] if m in obj else loose.get(m)
        value, is_number = _as_number(raw) if raw is not None else (None, True)
        if not is_number:
            errors.append(f"not_number:{m}")
        if value is not None and not 0.0 <= value <= 1.0:
            errors.append(f"out_of_range:{m}")
        weights[m] = value
    usable = [w for w in weights.values() if w is not None]
    in_range = not any(e.startswith("out_of_range") for e in errors)
    if len(usable) == len(MODALITIES) and in_range and abs(sum(usable) - 1.0) > SUM_TOLERANCE:
        errors.append("sum_not_1")
    if "reasoning" not in obj:
        errors.append("missing_key:reasoning")
    reasoning = obj["reasoning"] if "reasoning" in obj else loose.get("reasoning")
    if "reasoning" in obj and (not isinstance(reasoning, str) or not reasoning.strip()):
        errors.append("empty_reasoning")
    return weights, reasoning.strip() if isinstance(reasoning, str) else None, errors


def _repair(weights: dict[Modality, float | None]) -> dict[Modality, float] | None:
    """Percent scale to fractions, clamp, renormalise; ``None`` if a weight is missing or all zero."""
    if any(w is None for w in weights.values()):
        return None
    values: dict[Modality, float] = {m: float(w) for m, w in weights.items() if w is not None}
    # Percent scale: some weight above 1 and none above 100 (e.g. 60/20/10/10).
    if any(v > 1.0 for v in values.values()) and all(v <= 100.0 for v in values.values()):
        values = {m: v / 100 for m, v in values.items()}
    if sum(max(0.0, v) for v in values.values()) <= 0:
        return None
    return normalise(values)
