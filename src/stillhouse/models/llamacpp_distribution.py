"""The top-k log-probabilities of a llama.cpp answer, read by a logits processor while it decodes.

llama-cpp-python 0.3.36 returns ``logprobs`` only for a model loaded with ``logits_all=True`` (every
prompt position's logits kept: memory, and a slower prompt), and then as token *strings*. A logits
processor sees each sampling step's full row of logits, indexed by token id, at no cost to the
model's loading: the recorder keeps the ``top_k`` ids and log-softmax values of each row, before
any grammar masks it (the teacher's own distribution, which is what a student distils).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stillhouse.chat import LOGPROB_DECIMALS, TokenDistribution


class TopKRecorder:
    """A no-op logits processor that records each step's top-k ids and log-probabilities, and (like
    the backend's sample counter) counts steps and the prompt length."""

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k
        self.steps = 0
        self.prompt_tokens = 0
        self.rows: list[tuple[tuple[int, ...], tuple[float, ...]]] = []

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.steps == 0:
            self.prompt_tokens = len(input_ids)
        self.steps += 1
        logits = scores.astype(np.float64)
        peak = logits.max()
        log_z = peak + np.log(np.exp(logits - peak).sum())
        k = min(self.top_k, len(logits))
        top = np.argpartition(-logits, k - 1)[:k]
        top = top[np.argsort(-logits[top], kind="stable")]
        values = tuple(round(float(v), LOGPROB_DECIMALS) for v in logits[top] - log_z)
        self.rows.append((tuple(int(i) for i in top), values))
        return scores


def to_distribution(llm: Any, recorder: TopKRecorder, text: str) -> TokenDistribution:
    """The recorded rows paired with the answer's tokens, read back from the context (call it
    under the model's lock, right after the generation).

    The context holds the prompt and every generated token but the last sampled one (llama.cpp
    evaluates a token when it samples the next); that last one is either the end-of-turn token (not
    part of the answer: its row is dropped) or the token that hit ``max_tokens`` (recovered as the
    answer's remaining bytes: among its row's top ids, else by tokenizing them).
    """
    start = recorder.prompt_tokens
    ids = [int(t) for t in llm.input_ids[start : llm.n_tokens]][: len(recorder.rows)]
    written = b"".join(llm.detokenize([t]) for t in ids)
    rest = text.encode("utf-8")[len(written) :]
    if rest and len(ids) < len(recorder.rows):
        ids.append(_last_token(llm, recorder.rows[len(ids)][0], rest))
    offsets, so_far = [], b""
    for token in ids:
        offsets.append(len(so_far.decode("utf-8", errors="ignore")))
        so_far += llm.detokenize([token])
    rows = recorder.rows[: len(ids)]
    return TokenDistribution(
        text=text,
        offsets=tuple(offsets),
        ids=tuple(ids),
        top_ids=tuple(r[0] for r in rows),
        top_logprobs=tuple(r[1] for r in rows),
    )


def _last_token(llm: Any, candidates: tuple[int, ...], rest: bytes) -> int:
    """The token that wrote ``rest``: a candidate of its step when one spells it (greedy decoding
    wrote the first), else the first token of ``rest`` tokenized."""
    for token in candidates:
        if llm.detokenize([token]) == rest:
            return token
    tokens = llm.tokenize(rest, add_bos=False, special=False)
    return int(tokens[0]) if tokens else int(candidates[0])
