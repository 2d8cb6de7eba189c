"""Keyword-set metrics: per-image Jaccard and precision/recall/F1, and their micro/macro averages.

Pure functions over normalised keyword sets (:func:`~.parse.split_keywords`). Two empty sets are
identical (Jaccard 1.0); a metric with a zero denominator is 0.0 otherwise.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pydantic import BaseModel, ConfigDict


def jaccard(predicted: Collection[str], reference: Collection[str]) -> float:
    """|A ∩ B| / |A ∪ B| (the seed's similarity of two models' keyword sets)."""
    a, b = set(predicted), set(reference)
    union = a | b
    return len(a & b) / len(union) if union else 1.0


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def prf(predicted: Collection[str], reference: Collection[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of one predicted keyword set against its reference."""
    a, b = set(predicted), set(reference)
    if not a and not b:
        return 1.0, 1.0, 1.0
    hits = len(a & b)
    precision, recall = _ratio(hits, len(a)), _ratio(hits, len(b))
    return precision, recall, _f1(precision, recall)


class SetScores(BaseModel):
    """A model's keyword sets against their references, over a whole evaluation set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    images: int
    mean_jaccard: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    mean_keywords: float


def set_scores(predicted: Sequence[Collection[str]], reference: Sequence[Collection[str]]) -> SetScores:
    """Micro averages pool every keyword of every image; macro averages are per-image means."""
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    n = len(predicted)
    hits = sum(len(set(p) & set(r)) for p, r in zip(predicted, reference, strict=True))
    n_pred, n_ref = sum(len(set(p)) for p in predicted), sum(len(set(r)) for r in reference)
    micro_p, micro_r = _ratio(hits, n_pred), _ratio(hits, n_ref)
    per_image = [prf(p, r) for p, r in zip(predicted, reference, strict=True)]
    mean = lambda values: sum(values) / n if n else 0.0  # noqa: E731
    return SetScores(
        images=n,
        mean_jaccard=mean([jaccard(p, r) for p, r in zip(predicted, reference, strict=True)]),
        micro_precision=micro_p,
        micro_recall=micro_r,
        micro_f1=_f1(micro_p, micro_r),
        macro_precision=mean([s[0] for s in per_image]),
        macro_recall=mean([s[1] for s in per_image]),
        macro_f1=mean([s[2] for s in per_image]),
        mean_keywords=n_pred / n if n else 0.0,
    )
