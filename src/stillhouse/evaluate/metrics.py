"""Generic, task-independent metrics: percentiles, means that skip gaps, text match, cost.

Everything here is pure (numbers in, numbers out) so the evaluation loop and the report share one
definition of each figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from difflib import SequenceMatcher


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) with linear interpolation, as ``numpy.percentile`` computes it.

    ``None`` for an empty sequence: a model with no measured calls has no latency, not a zero one.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within [0, 100], got {q}")
    ordered = sorted(float(v) for v in values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def finite(values: Iterable[float | None]) -> list[float]:
    """The values that are real numbers (drops ``None`` and NaN, which mean "not measurable")."""
    return [float(v) for v in values if v is not None and not math.isnan(float(v))]


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the finite values, ``None`` when there are none."""
    kept = finite(values)
    return sum(kept) / len(kept) if kept else None


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the two texts are equal after trimming surrounding whitespace."""
    return float(prediction.strip() == reference.strip())


def fuzzy_match(prediction: str, reference: str) -> float:
    """Similarity ratio in [0, 1] of the two trimmed texts (difflib's Ratcliff/Obershelp ratio)."""
    a, b = prediction.strip(), reference.strip()
    if not a and not b:
        return 1.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def field_errors(prediction: dict | None, reference: dict | None) -> dict[str, float]:
    """Absolute error per numeric field the reference has (e.g. one per modality weight).

    A field the prediction lacks (or that is not a number) is left out rather than guessed, so the
    per-field mean is over predictions that could be compared.
    """
    if not prediction or not reference:
        return {}
    errors: dict[str, float] = {}
    for key, ref in reference.items():
        pred = prediction.get(key)
        if _is_number(ref) and _is_number(pred):
            errors[key] = abs(float(pred) - float(ref))
    return errors


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(float(value))


def cost_per_1k_queries(per_query_costs: Sequence[float]) -> float | None:
    """Expected price of 1,000 queries at the measured mean price per query (``None`` with no calls)."""
    if not per_query_costs:
        return None
    return 1000.0 * sum(per_query_costs) / len(per_query_costs)
