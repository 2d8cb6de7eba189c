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
from stillhouse.models.draft import DraftStats, PromptLookup, lookup_draft
from stillhouse.models.llamacpp_states import PrefixStates
from stillhouse.models.skeleton import (
    Cursor,
    EnumSlot,
    Literal,
    Skeleton,
    advance,
    closed_after,
    done,
    forced,
)

TOP_K = 64  # the model's best tokens tried before the whole vocabulary is ranked


@dataclass(frozen=True)
class SkeletonResult:
    """What a skeleton decode wrote and what it cost, in tokens."""

    text: str
    input_tokens: int
    output_tokens: int
    truncated: bool
    first_choice: dict[str, float] | None = None  # the first value's option scores, when asked


class SkeletonDecoder:
    """Decodes greedily under skeletons on one ``llama_cpp.Llama`` (the caller serialises calls)."""

    def __init__(self, llm: Any, snapshots: int = 8, draft: PromptLookup | None = None) -> None:
        """``draft``: verify prompt-lookup guesses of the model's next tokens in the batch of the
        token before them (:mod:`stillhouse.models.draft`); the answer is the same either way."""
        self._llm = llm
        self._pieces: list[bytes] | None = None  # each token's bytes, built on first use
        self.states = PrefixStates(llm, capacity=snapshots)
        self.draft = draft
        self.draft_stats = DraftStats()
        self._owners: tuple[tuple[bytes, ...], np.ndarray] | None = None  # option_logprobs' table

    def token_bytes(self) -> list[bytes]:
        """Every token's bytes; special tokens map to ``b""`` and are never chosen."""
        if self._pieces is None:
            llm = self._llm
            self._pieces = [llm.detokenize([t], special=False) for t in range(llm.n_vocab())]
        return self._pieces

    def decode(
        self, prompt: list[int], skeleton: Skeleton, max_tokens: int, stop_after: int | None = None
    ) -> SkeletonResult:
        """Answer ``prompt`` (tokens) under ``skeleton``, at most ``max_tokens`` output tokens.

        With ``stop_after`` (a slot's index), decoding stops once that value is written: the text
        is the answer up to it, closed as a JSON object (:func:`closed_after`), and the result
        carries the first value's option scores (:meth:`option_logprobs`) from the pass that chose
        it. Every token is chosen as under the whole skeleton: a value's last token may carry the
        text that follows it (``",``), which a schema that ended there would refuse."""
        steps = self.decode_steps(prompt, skeleton, max_tokens, stop_after)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def decode_steps(
        self, prompt: list[int], skeleton: Skeleton, max_tokens: int, stop_after: int | None = None
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
        cursor, out, n_out, saved, first = Cursor(), bytearray(), 0, False, None
        while stop_after is None or cursor.index <= stop_after:
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
            if not saved:  # the prompt: evaluated alone, its state kept for prompts sharing a prefix
                self._llm.eval(pending)
                self.states.save()
                saved = True
                logits = self._logits(-1)
                if stop_after is not None and cursor == Cursor(1) and isinstance(skeleton[1], EnumSlot):
                    first = self._option_scores(_distinct_options(skeleton), logits)
                token, cursor = self._best_fit(skeleton, cursor, logits)
                chosen = [token]
            else:
                chosen, cursor = self._verified(pending, skeleton, cursor, max_tokens - n_out)
            for token in chosen:
                out += pieces[token]
                yield pieces[token]
            pending, n_out = [chosen[-1]], n_out + len(chosen)
        if stop_after is not None and cursor.index > stop_after:
            closed = closed_after(skeleton, bytes(out), stop_after)
            assert closed is not None  # the cursor is past the value
            return SkeletonResult(closed.decode("utf-8", errors="replace"), len(prompt), n_out, False, first)
        text = out.decode("utf-8", errors="replace")
        return SkeletonResult(text, len(prompt), n_out, not done(skeleton, cursor), first)

    def option_logprobs(self, prompt: list[int], skeleton: Skeleton) -> dict[str, float]:
        """The log-probability of each option of the skeleton's first value, an enum after the
        opening literal, from one forward pass over what the prefix cache does not hold.

        An option's probability is that of every token the decoder could start it with (``"a"``,
        ``"aud"``, ``"audio"``...), so the options must start with different bytes (the router's
        four modalities do): a classification for the price of reading the prompt, with no token
        decoded (the router's weights-only path, :mod:`stillhouse.tasks.video_router.route_head`).
        """
        options = _distinct_options(skeleton)  # refused before the context is touched
        assert isinstance(skeleton[0], Literal)
        pending = self.states.restore(prompt) + self._forced_tokens(skeleton[0].text)
        self._llm.eval(pending)
        return self._option_scores(options, self._logits(-1))

    def _option_scores(self, options: tuple[bytes, ...], logits: np.ndarray) -> dict[str, float]:
        """Each option's log-probability from ``logits``, the row that chooses the first value."""
        owner = self._option_owners(options)
        scores = logits.astype(np.float64)
        top = scores.max()
        mass = np.exp(scores - top)
        log_total = top + np.log(mass.sum())
        return {
            o.decode(): float(top + np.log(mass[owner == i].sum()) - log_total) for i, o in enumerate(options)
        }

    def _option_owners(self, options: tuple[bytes, ...]) -> np.ndarray:
        """Each token's option (its index) when the token can start that option, else -1."""
        if self._owners is None or self._owners[0] != options:
            owner = np.full(len(self.token_bytes()), -1)
            for token, data in enumerate(self.token_bytes()):
                for i, option in enumerate(options):
                    if data and (option.startswith(data) or data.startswith(option + b'"')):
                        owner[token] = i
            self._owners = (options, owner)
        return self._owners[1]

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

    def _verified(
        self, pending: list[int], skeleton: Skeleton, cursor: Cursor, budget: int
    ) -> tuple[list[int], Cursor]:
        """Run ``pending`` with a draft of what follows; the model's own next tokens (the drafted
        ones it agrees with, then its own choice where it first disagrees) and the cursor after them.

        Without a draft this is one forward pass and one choice. The context keeps only the tokens
        the model chose: a rejected guess is cut off the KV cache before the next pass.
        """
        llm = self._llm
        draft = self._draft(pending, skeleton, cursor, budget - 1)
        if not draft:
            llm.eval(pending)
            token, cursor = self._best_fit(skeleton, cursor, self._logits(-1))
            return [token], cursor
        start = llm.n_tokens + len(pending) - 1  # the last pending token's place in the context
        self._eval_rows(pending + draft)
        chosen: list[int] = []
        for i in range(len(draft) + 1):  # row len(pending) - 1 + i holds the choice after draft[:i]
            if i == len(draft) and (done(skeleton, cursor) or forced(skeleton, cursor)):
                break  # every guess kept, and forced text comes next: the main loop runs it
            token, cursor = self._best_fit(skeleton, cursor, self._logits(len(pending) - 1 + i))
            chosen.append(token)
            if i == len(draft) or token != draft[i]:
                break
        accepted = len(chosen) if chosen == draft else len(chosen) - 1
        self.draft_stats.drafted += len(draft)
        self.draft_stats.accepted += accepted
        self.draft_stats.verifications += 1
        # The context keeps the pending tokens and the kept guesses but the last chosen token, which
        # the next pass runs (with any forced text after it); eval() drops the rest from the cache.
        llm.n_tokens = start + len(chosen)
        return chosen, cursor

    def _draft(self, pending: list[int], skeleton: Skeleton, cursor: Cursor, budget: int) -> list[int]:
        """Prompt-lookup guesses that fit the skeleton after ``pending``, up to where text is forced
        (the decoder runs forced text in batches of its own tokenization)."""
        if self.draft is None or budget <= 0:
            return []
        llm = self._llm
        history = [*llm.input_ids[: llm.n_tokens].tolist(), *pending]
        at, pieces, kept = cursor, self.token_bytes(), []
        for token in lookup_draft(history, self.draft)[:budget]:
            after = advance(skeleton, at, pieces[token]) if pieces[token] else None
            if after is None:
                break
            kept.append(token)
            if done(skeleton, after) or forced(skeleton, after):
                break
            at = after
        return kept[: max(llm.n_batch - len(pending), 0)]  # one batch, so every row has its logits

    def _eval_rows(self, tokens: list[int]) -> None:
        """``Llama.eval`` of one batch with logits at every row, which verifying a draft reads."""
        llm = self._llm
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)  # as eval() does: drop what a rejection left
        llm._batch.set_batch(batch=tokens, n_past=llm.n_tokens, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
        llm.n_tokens += len(tokens)

    def _logits(self, row: int) -> np.ndarray:
        import llama_cpp

        llm = self._llm
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, row), shape=(llm.n_vocab(),))

    def _best_fit(self, skeleton: Skeleton, cursor: Cursor, logits: np.ndarray) -> tuple[int, Cursor]:
        """The best-scored token that continues the skeleton, and the cursor after it."""
        pieces = self.token_bytes()
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


def _distinct_options(skeleton: Skeleton) -> tuple[bytes, ...]:
    """The options of the skeleton's first value, refused unless it is an enum after the opening
    literal whose options start with different bytes (each token then names one option)."""
    if len(skeleton) < 2 or not isinstance(skeleton[0], Literal) or not isinstance(skeleton[1], EnumSlot):
        raise InvalidInputError("the schema's first value is not an enum", field="json_schema")
    options = skeleton[1].options
    if len({o[:1] for o in options}) != len(options):
        raise InvalidInputError("the enum's options share a first character", field="json_schema")
    return options
