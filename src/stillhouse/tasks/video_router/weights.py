"""Arithmetic on the four modality weights: normalising, rounding to hundredths, dominance.

Everything here is pure and works on plain ``{modality: weight}`` mappings so the parser, the rubric,
the golden-set loader and the figures share one definition of "dominant" and "intent".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from stillhouse.errors import InvalidInputError
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

# Two weights closer than this count as tied for the top (one rounding step of a 2-decimal answer).
TIE_TOLERANCE = 0.01
# A single modality "dominates" a query only above this weight; below it the intent is "mixed".
DOMINANCE_THRESHOLD = 0.5

INTENTS: tuple[str, ...] = (*MODALITIES, "mixed")


def weights_of(value: Mapping[str, object]) -> dict[Modality, float]:
    """The four weights of a parsed answer, in canonical order (other keys ignored)."""
    try:
        return {m: float(value[m]) for m in MODALITIES}  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"answer lacks numeric modality weights: {exc}", field="weights") from exc


def normalise(weights: Mapping[Modality, float]) -> dict[Modality, float]:
    """Scale weights to sum to 1 (negative weights clamp to 0 first)."""
    clamped = {m: max(0.0, float(weights[m])) for m in MODALITIES}
    total = sum(clamped.values())
    if total <= 0 or not math.isfinite(total):
        raise InvalidInputError("weights sum to zero; nothing to normalise", field="weights")
    return {m: w / total for m, w in clamped.items()}


def round_hundredths(weights: Mapping[Modality, float]) -> dict[Modality, float]:
    """Weights rounded to 2 decimals that sum to exactly 1.00 (largest-remainder rounding).

    Plain rounding of 1/3 each gives 0.99; the largest-remainder method hands the missing hundredths to
    the weights that lost the most, so the rendered answer always honours the sum contract.
    """
    scaled = {m: w * 100 for m, w in normalise(weights).items()}
    floors = {m: math.floor(v) for m, v in scaled.items()}
    missing = 100 - sum(floors.values())
    # Stable order on ties: larger remainder first, then canonical modality order.
    by_remainder = sorted(MODALITIES, key=lambda m: (-(scaled[m] - floors[m]), MODALITIES.index(m)))
    for m in by_remainder[:missing]:
        floors[m] += 1
    return {m: floors[m] / 100 for m in MODALITIES}


def dominant(weights: Mapping[Modality, float]) -> Modality:
    """The argmax modality; exact ties go to the earlier modality in canonical order."""
    return max(MODALITIES, key=lambda m: (weights[m], -MODALITIES.index(m)))


def top_modalities(
    weights: Mapping[Modality, float], tolerance: float = TIE_TOLERANCE
) -> frozenset[Modality]:
    """Every modality within ``tolerance`` of the largest weight (a near-tie has several)."""
    best = max(weights[m] for m in MODALITIES)
    return frozenset(m for m in MODALITIES if weights[m] >= best - tolerance - 1e-12)


def intent_of(weights: Mapping[Modality, float]) -> str:
    """A query's intent from its weights: the dominant modality above 0.5, else ``"mixed"``."""
    top = dominant(weights)
    return top if weights[top] > DOMINANCE_THRESHOLD else "mixed"
