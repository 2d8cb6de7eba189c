"""The router's weights-only path: the student's own route distribution, mixed over the weights
each route typically gets. Pure, no I/O.

The student answers ``route`` first, and everything it writes after it costs a forward pass per
chosen token (benchmarks/README.md: the weights alone are over half of a full answer). Its
probabilities for the four route words, read from the one forward pass over the prompt
(``LlamaCppModel.option_logprobs``), already decide the dominant modality as the full answer
does; the weights are each route's typical (median) golden weights, mixed by those probabilities. A caller
that fuses scores with the weights and never reads the reasoning gets them for the price of
reading the query.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.video_router.prompt import MODALITIES, Modality
from stillhouse.tasks.video_router.weights import dominant, normalise, weights_of

RoutePrior = dict[Modality, dict[Modality, float]]


def route_prior(records: Iterable[ConversationRecord]) -> RoutePrior:
    """Each route's typical weights over the labelled ``records`` whose dominant modality it is: the
    median of each modality's weight, renormalised. A route's records include mixed queries that
    lean its way, which pull a mean towards flat weights that fit no query; the median keeps the
    profile most of them share (the labelling policy's 0.70 / 0.10 / ...), and on the held-out set
    scores a full rubric point higher (benchmarks/README.md)."""
    rows: dict[Modality, list[dict[Modality, float]]] = {m: [] for m in MODALITIES}
    for record in records:
        if record.answer:
            weights = normalise(weights_of(json.loads(record.answer)))
            rows[dominant(weights)].append(weights)
    missing = [m for m, found in rows.items() if not found]
    if missing:
        raise InvalidInputError(f"no labelled record routes to {', '.join(missing)}", field="records")
    return {
        route: normalise({m: statistics.median(r[m] for r in found) for m in MODALITIES})
        for route, found in rows.items()
    }


def mixed_weights(logprobs: Mapping[str, float], prior: RoutePrior) -> dict[Modality, float]:
    """The prior's weights mixed by the route probabilities (``logprobs`` renormalised over the
    four routes, since the rest of the vocabulary cannot follow the opening quote)."""
    if set(logprobs) != set(MODALITIES):
        raise InvalidInputError(f"route scores must name exactly {', '.join(MODALITIES)}", field="logprobs")
    top = max(logprobs.values())
    mass = {route: math.exp(logprobs[route] - top) for route in MODALITIES}
    total = sum(mass.values())
    mixed = {m: sum(mass[r] / total * prior[r][m] for r in MODALITIES) for m in MODALITIES}
    return normalise(mixed)
