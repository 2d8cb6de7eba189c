"""Per-modality score normalisation and fusion (pure).

Each modality returns two top-K lists (dense cosine, BM25). Raw BM25 is unbounded and cosine
ranges differ per channel, so each list is normalised on its own (``FusionConfig.normalisation``):

- ``minmax`` (default): scaled to [0, 1] within the list, 0 for a segment not in it;
- ``zscore``: ``(s - mean) / std`` of the list, the list's lowest for a segment not in it; a list
  whose best hit stands far above the rest counts for more than a flat list of weak matches;
- ``rank``: ``1 - rank / len(list)``, 0 for a segment not in it.

A modality's score is ``(1 - lexical_weight) * dense + lexical_weight * bm25``. Strategies:

- ``routed`` (default): the convex combination ``sum(w_m * s_m) / sum(w_m)`` over the modalities
  the segment has, with the router's weights;
- ``rrf``: weighted reciprocal-rank fusion, ``w_m / (rrf_k + rank)`` per list, renormalised alike;
- ``uniform``: ``routed`` with weights 1/4 each;
- ``combined``: the single embedding of all channels (the seeds' baseline), no routing.

Oracle weights (the benchmark) are ``routed`` with the ground-truth weights given as fixed weights.

A modality whose weight is under ``min_weight`` is left out (:func:`searched`): it is not searched,
and it neither counts nor dilutes the others, like a modality the segment lacks. A channel of
weight ``w`` adds at most ``w`` to any fused score, so skipping the ones the router all but
dismissed costs little ranking and saves their searches (benchmarks/README).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.search.store import Hit
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

Strategy = Literal["routed", "rrf", "uniform", "combined"]
Normalisation = Literal["minmax", "zscore", "rank"]
STRATEGIES: tuple[Strategy, ...] = ("routed", "rrf", "uniform", "combined")
UNIFORM: dict[Modality, float] = {m: 1.0 / len(MODALITIES) for m in MODALITIES}
MIN_WEIGHT = 0.1  # a search's default floor for :func:`searched` (its effect: benchmarks/README)


class FusionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = "routed"
    lexical_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    rrf_k: int = Field(default=60, ge=1)
    normalisation: Normalisation = "minmax"


@dataclass(frozen=True)
class ChannelHits:
    """One modality's two ranked lists."""

    dense: Sequence[Hit] = ()
    lexical: Sequence[Hit] = ()


@dataclass
class Fused:
    """One candidate after fusion: the fused score and each retrieved modality's normalised score."""

    id: int
    score: float
    scores: dict[Modality, float | None] = field(default_factory=dict)


def minmax(hits: Sequence[Hit]) -> dict[int, float]:
    """Scores scaled to [0, 1] within the list; a list whose scores are all equal gives 1.0 each."""
    if not hits:
        return {}
    values = [h.score for h in hits]
    low, high = min(values), max(values)
    if high - low <= 1e-12:
        return {h.id: 1.0 for h in hits}
    return {h.id: (h.score - low) / (high - low) for h in hits}


def normalised_list(hits: Sequence[Hit], how: Normalisation) -> tuple[dict[int, float], float]:
    """One list's scores normalised by ``how``, and the score of a segment not in the list."""
    if how == "minmax" or not hits:
        return minmax(hits), 0.0
    if how == "rank":
        return {h.id: 1.0 - r / len(hits) for r, h in enumerate(hits)}, 0.0
    values = [h.score for h in hits]
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    if std <= 1e-12:  # all equal: the list tells its hits apart from nothing, each at the mean
        return {h.id: 0.0 for h in hits}, 0.0
    scaled = {h.id: (h.score - mean) / std for h in hits}
    return scaled, min(scaled.values())


def merge_dense(*lists: Sequence[Hit]) -> list[Hit]:
    """Several dense lists of one modality as one (a caption's text vector and its keyframe's image
    vector): each list min-max normalised on its own, since the two models' cosines are not
    comparable, and each id keeps its best; best first (ties by id)."""
    best: dict[int, Hit] = {}
    for hits in lists:
        scaled = minmax(hits)
        for h in hits:
            if h.id not in best or scaled[h.id] > best[h.id].score:
                best[h.id] = Hit(h.id, scaled[h.id], h.has)
    return sorted(best.values(), key=lambda h: (-h.score, h.id))


def searched(weights: Mapping[Modality, float], min_weight: float) -> tuple[Modality, ...]:
    """The modalities worth searching: those weighted at least ``min_weight`` (0: all four, as a
    search without pruning), and always the heaviest (ties: the first in :data:`MODALITIES`
    order), so every query searches something."""
    kept = tuple(m for m in MODALITIES if weights[m] >= min_weight)
    return kept or (max(MODALITIES, key=lambda m: weights[m]),)


def channel_scores(
    channels: Mapping[Modality, ChannelHits], lexical_weight: float, how: Normalisation = "minmax"
) -> tuple[dict[Modality, dict[int, float]], dict[Modality, float]]:
    """Each modality's normalised score for every id in either of its lists, and per modality the
    score of a segment that has the modality but is in neither list."""
    out: dict[Modality, dict[int, float]] = {}
    floors: dict[Modality, float] = {}
    for m, hits in channels.items():
        (dense, dense_floor), (lexical, lexical_floor) = (
            normalised_list(hits.dense, how),
            normalised_list(hits.lexical, how),
        )
        out[m] = {
            i: (1.0 - lexical_weight) * dense.get(i, dense_floor)
            + lexical_weight * lexical.get(i, lexical_floor)
            for i in dense.keys() | lexical.keys()
        }
        floors[m] = (1.0 - lexical_weight) * dense_floor + lexical_weight * lexical_floor
    return out, floors


def reciprocal_ranks(hits: ChannelHits, lexical_weight: float, k: int) -> dict[int, float]:
    """One modality's weighted RRF: each list adds ``share / (k + rank)`` (ranks from 1)."""
    out: dict[int, float] = {}
    for share, ranked in ((1.0 - lexical_weight, hits.dense), (lexical_weight, hits.lexical)):
        for rank, hit in enumerate(ranked, start=1):
            out[hit.id] = out.get(hit.id, 0.0) + share / (k + rank)
    return out


def renormalised(
    parts: Mapping[Modality, float], weights: Mapping[Modality, float], present: Sequence[Modality]
) -> float:
    """``sum(w_m * parts_m) / sum(w_m)`` over the modalities present; 0 when their weights sum to 0."""
    total = sum(weights[m] for m in present)
    if total <= 0:
        return 0.0
    return sum(weights[m] * parts.get(m, 0.0) for m in present) / total


def fuse(
    channels: Mapping[Modality, ChannelHits],
    weights: Mapping[Modality, float],
    present: Mapping[int, Sequence[Modality]],
    config: FusionConfig,
) -> list[Fused]:
    """Every candidate (any id in any list) fused, best first (ties by id for a stable order).

    ``present[id]`` is the modalities that segment has; a modality it lacks neither counts nor
    dilutes the others. ``weights`` are ignored by ``uniform``; ``combined`` uses :func:`fuse_combined`.
    """
    normalised, floors = channel_scores(channels, config.lexical_weight, config.normalisation)
    used = UNIFORM if config.strategy == "uniform" else weights
    rrf = (
        {m: reciprocal_ranks(h, config.lexical_weight, config.rrf_k) for m, h in channels.items()}
        if config.strategy == "rrf"
        else None
    )
    out = []
    for i in sorted(set().union(*(s.keys() for s in normalised.values()))):
        has = [m for m in present.get(i, ()) if m in channels]
        scores: dict[Modality, float | None] = {
            m: (normalised[m].get(i, floors[m]) if m in has else None) for m in MODALITIES
        }
        parts = {m: rrf[m].get(i, 0.0) if rrf is not None else scores[m] or 0.0 for m in has}
        out.append(Fused(id=i, score=renormalised(parts, used, has), scores=scores))
    out.sort(key=lambda f: (-f.score, f.id))
    return out


def fuse_combined(hits: Sequence[Hit]) -> list[Fused]:
    """The baseline: the combined embedding's cosine is the score; no modality is scored."""
    out = [Fused(id=h.id, score=h.score, scores=dict.fromkeys(MODALITIES)) for h in hits]
    out.sort(key=lambda f: (-f.score, f.id))
    return out


@dataclass
class Span:
    """A result's time range: one segment, or neighbouring segments of one video merged."""

    video_id: str
    start: float
    end: float
    score: float
    scores: dict[Modality, float | None]
    evidence: dict[str, str]
    ids: list[int] = field(default_factory=list)


def merge_neighbours(spans: Sequence[Span], gap_s: float) -> list[Span]:
    """Spans of one video that overlap or lie within ``gap_s`` seconds merge into one time range,
    keeping the best score and, per modality, the best score and the best span's evidence first.
    Input best first; output best first."""
    merged: list[Span] = []
    for span in spans:
        for group in merged:
            if (
                group.video_id == span.video_id
                and span.start <= group.end + gap_s
                and group.start <= span.end + gap_s
            ):
                group.start, group.end = min(group.start, span.start), max(group.end, span.end)
                for m, s in span.scores.items():
                    if s is not None and (group.scores.get(m) is None or s > group.scores[m]):  # type: ignore[operator]
                        group.scores[m] = s
                group.evidence = {**span.evidence, **group.evidence}
                group.ids.extend(span.ids)
                break
        else:
            merged.append(Span(**{**span.__dict__, "scores": dict(span.scores), "ids": list(span.ids)}))
    return merged
