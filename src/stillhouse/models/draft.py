"""Prompt-lookup drafts for speculative decoding: the tokens that followed the last few tokens
the last time they occurred in the context. Pure, no I/O.

A greedy decoder that has a guess for its next few tokens can run them through the model in one
batch with the token before them and keep the guesses the model would itself have chosen; on a
CPU a batch of a few tokens costs little more than one, since the weights are read once for all
of them. The guess here is prompt lookup (Saxena's prompt-lookup decoding, which llama-cpp-python
ships as ``LlamaPromptLookupDecoding``): answers that repeat their prompt or themselves (a JSON
answer's ``0.`` before each weight, a query quoted in its reasoning) get runs accepted for free;
an answer that repeats nothing costs the verified guesses that missed. How many are kept is counted
(:class:`DraftStats`) so a benchmark can say whether it paid (``benchmarks/bench_student_levers.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


class PromptLookup(BaseModel):
    """How prompt-lookup drafts are made: the longest n-gram matched, and the most tokens guessed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ngram: int = Field(default=2, ge=1, le=8)
    tokens: int = Field(default=8, ge=1, le=64)


@dataclass
class DraftStats:
    """Drafted and accepted tokens over the decodes of one model, and the batches they cost."""

    drafted: int = 0
    accepted: int = 0
    verifications: int = 0

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


def lookup_draft(history: Sequence[int], config: PromptLookup) -> list[int]:
    """The tokens that followed the latest earlier occurrence of the history's last n-gram, longest
    n-gram first (at most ``config.ngram``); at most ``config.tokens`` of them, none when no n-gram
    recurs.

    The latest occurrence, not the first: in an answer that repeats a pattern (``", "audio": 0.``)
    the nearest copy is the likeliest continuation.
    """
    n = len(history)
    for size in range(min(config.ngram, n - 1), 0, -1):
        tail = list(history[n - size :])
        for start in range(n - size - 1, -1, -1):
            if list(history[start : start + size]) == tail:
                return list(history[start + size : start + size + config.tokens])
    return []
