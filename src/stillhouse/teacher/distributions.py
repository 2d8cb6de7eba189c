"""The teacher's top-k distributions of the answers a labelling run wrote (pure, but for the writer).

With ``LabelConfig.top_logprobs`` > 0 a run writes, beside its output JSONL, one
:class:`~stillhouse.chat.TokenDistribution` line per labelled answer (``<out>.distributions.jsonl``),
which training reads to distil logits (``distillationMethod=kd|uld``). The distributions themselves
live in the request cache under the request's own key, so relabelling pays for none of them again.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

from stillhouse.chat import TokenDistribution


def distributions_path(labelled: Path) -> Path:
    """Where a labelling run writes the distributions of ``labelled``'s answers."""
    return labelled.with_name(labelled.name + ".distributions.jsonl")


def fit_to_answer(dist: TokenDistribution, answer: str) -> TokenDistribution | None:
    """``dist`` cut to the tokens of ``answer`` when the answer is the teacher's text stripped of
    surrounding whitespace (what labelling writes), with offsets into ``answer``; ``None`` when the
    answer was rewritten (a task re-rendered it), since its tokens are then not the teacher's."""
    if dist.text == answer:
        return dist
    if dist.text.strip() != answer:
        return None
    start, stop = dist.text.index(answer), dist.text.index(answer) + len(answer)
    ends = [*dist.offsets[1:], len(dist.text)]
    # A token that begins in the stripped whitespace and ends inside the answer (" route") is the
    # position that predicted the answer's start, so it stays, at offset 0.
    keep = [i for i, offset in enumerate(dist.offsets) if ends[i] > start and offset < stop]
    return TokenDistribution(
        text=answer,
        offsets=tuple(max(dist.offsets[i] - start, 0) for i in keep),
        ids=tuple(dist.ids[i] for i in keep),
        top_ids=tuple(dist.top_ids[i] for i in keep),
        top_logprobs=tuple(dist.top_logprobs[i] for i in keep),
    )


def pack(dist: TokenDistribution) -> bytes:
    """A distribution as the cache stores it: compressed JSON (its ids and rounded log-probabilities
    repeat a few digits, which compress well)."""
    return zlib.compress(dist.model_dump_json().encode("utf-8"), level=6)


def unpack(blob: bytes) -> TokenDistribution:
    return TokenDistribution.model_validate(json.loads(zlib.decompress(blob)))
