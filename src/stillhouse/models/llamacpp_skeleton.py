"""Greedy skeleton decoding on a llama.cpp model: forced text in batches, the model's tokens checked.

A schema-constrained answer from llama.cpp's grammar costs one forward pass per token, and the
grammar is checked against the whole vocabulary at every step. For a flat object schema
(:mod:`stillhouse.models.skeleton`) most of an answer is forced text: ``{"route": "`` before the
first value, ``", "visual": `` between two. This decoder evaluates each forced run together with the
token before it in one batch, and checks the model's own choices by walking the best-scored tokens
until one fits the skeleton. The result is what greedy decoding under the schema writes, with the
forced text in the tokenizer's own segmentation (as in training) and fewer forward passes; on the
router's student it more than halves the latency (``benchmarks/bench_skeleton.py``).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from stillhouse.errors import InvalidInputError, ModelError
from stillhouse.models.llamacpp_states import PrefixStates
from stillhouse.models.skeleton import Cursor, Skeleton, advance, done, forced

TOP_K = 64  # the model's best tokens tried before the whole vocabulary is ranked


@dataclass(frozen=True)
class SkeletonResult:
    """What a skeleton decode wrote and what it cost, in tokens."""

    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool


class SkeletonDecoder:
    """Decodes greedily under skeletons on one ``llama_cpp.Llama`` (the caller serialises calls)."""

    def __init__(self, llm: Any, snapshots: int = 8) -> None:
        self._llm = llm
        self._pieces: list[bytes] | None = None  # each token's bytes, built on first use
        self.states = PrefixStates(llm, capacity=snapshots)

    def token_bytes(self) -> list[bytes]:
        """Every token's bytes; special tokens map to ``b""`` and are never chosen."""
        if self._pieces is None:
            llm = self._llm
            self._pieces = [llm.detokenize([t], special=False) for t in range(llm.n_vocab())]
        return self._pieces

    def decode(self, prompt: list[int], skeleton: Skeleton, max_tokens: int) -> SkeletonResult:
        """Answer ``prompt`` (tokens) under ``skeleton``, at most ``max_tokens`` output tokens."""
        steps = self.decode_steps(prompt, skeleton, max_tokens)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def decode_steps(
        self, prompt: list[int], skeleton: Skeleton, max_tokens: int
    ) -> Generator[bytes, None, SkeletonResult]:
        """:meth:`decode`, yielding the answer's bytes as they are decided (a forced run, then each
        chosen token) and returning the result."""
        pieces = self.token_bytes()
        room = self._llm.n_ctx() - len(prompt)
        if room <= 0:
            raise InvalidInputError(
                f"prompt of {len(prompt)} tokens exceeds the context window of {self._llm.n_ctx()}",
                field="messages",
            )
        max_tokens = min(max_tokens, room)  # as llama-cpp-python clips it on the grammar path
        pending = self.states.restore(prompt)
        cursor, out, n_out, saved = Cursor(), bytearray(), 0, False
        while True:
            run = self._forced_tokens(forced(skeleton, cursor))
            if run:
                run = run[: max_tokens - n_out]
                data = b"".join(pieces[t] for t in run)
                after = advance(skeleton, cursor, data)
                if after is None:  # forced bytes fit by construction
                    raise ModelError(f"forced text {data!r} does not fit the JSON schema")
                cursor = after
                out += data
                yield data
                pending += run
                n_out += len(run)
            if done(skeleton, cursor) or n_out >= max_tokens:
                break
            self._llm.eval(pending)
            if not saved:  # the prompt is evaluated: keep its state for prompts that share a prefix
                self.states.save()
                saved = True
            token, cursor = self._best_fit(skeleton, cursor)
            out += pieces[token]
            yield pieces[token]
            pending, n_out = [token], n_out + 1
        text = out.decode("utf-8", errors="replace")
        return SkeletonResult(text, len(prompt), n_out, truncated=not done(skeleton, cursor))

    def _forced_tokens(self, data: bytes) -> list[int]:
        """``data`` as tokens, when tokenizing it alone reproduces it exactly; else none.

        A tokenizer that adds a leading space to a fragment (SentencePiece) fails the check; the
        forced bytes are then chosen token by token instead, which :meth:`_best_fit` still finds.
        """
        if not data:
            return []
        tokens = self._llm.tokenize(data, add_bos=False, special=False)
        pieces = self.token_bytes()
        return tokens if b"".join(pieces[t] for t in tokens) == data else []

    def _best_fit(self, skeleton: Skeleton, cursor: Cursor) -> tuple[int, Cursor]:
        """The best-scored token that continues the skeleton, and the cursor after it."""
        import llama_cpp

        llm, pieces = self._llm, self.token_bytes()
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        for token in _ranked(logits):
            data = pieces[token]
            after = advance(skeleton, cursor, data) if data else None
            if after is not None:
                return token, after
        raise ModelError("no token of the vocabulary continues the JSON schema")


def _ranked(logits: np.ndarray) -> Iterator[int]:
    """Token ids from the best score down: the top few first, the whole vocabulary only if needed
    (ranking all ~50k costs more than a forward pass of a small model)."""
    top = np.argpartition(logits, -TOP_K)[-TOP_K:]
    yield from top[np.argsort(-logits[top])].tolist()
    yield from np.argsort(-logits).tolist()
