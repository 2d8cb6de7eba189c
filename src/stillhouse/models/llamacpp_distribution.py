"""The top-k log-probabilities of a llama.cpp answer, read by a logits processor while it decodes.

llama-cpp-python 0.3.36 returns ``logprobs`` only for a model loaded with ``logits_all=True`` (every
prompt position's logits kept: memory, and a slower prompt), and then as token *strings*. A logits
processor sees each sampling step's full row of logits, indexed by token id, at no cost to the
model's loading: the recorder keeps the ``top_k`` ids and log-softmax values of each row, before
any grammar masks it (the teacher's own distribution, which is what a student distils).

:func:`score_answer` scores an answer it is given instead (teacher forcing): the prompt is evaluated
as generation would (reusing the context's common prefix), then the answer's tokens in one batch
that keeps the logits of every position, each row reduced exactly as the recorder reduces it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stillhouse.chat import LOGPROB_DECIMALS, TokenDistribution

if TYPE_CHECKING:
    from stillhouse.models.llamacpp_states import PrefixStates

TopRow = tuple[tuple[int, ...], tuple[float, ...]]
"""One position's top ids and their log-probabilities, best first."""


class TopKRecorder:
    """A no-op logits processor that records each step's top-k ids and log-probabilities, and (like
    the backend's sample counter) counts steps and the prompt length."""

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k
        self.steps = 0
        self.prompt_tokens = 0
        self.rows: list[TopRow] = []

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self.steps == 0:
            self.prompt_tokens = len(input_ids)
        self.steps += 1
        self.rows.append(top_row(scores, self.top_k))
        return scores


def top_row(scores: np.ndarray, top_k: int) -> TopRow:
    """One row of logits as its ``top_k`` ids and log-softmax values, best first (rounded)."""
    logits = scores.astype(np.float64)
    peak = logits.max()
    log_z = peak + np.log(np.exp(logits - peak).sum())
    k = min(top_k, len(logits))
    top = np.argpartition(-logits, k - 1)[:k]
    top = top[np.argsort(-logits[top], kind="stable")]
    values = tuple(round(float(v), LOGPROB_DECIMALS) for v in logits[top] - log_z)
    return tuple(int(i) for i in top), values


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
    return _distribution(llm, text, ids, recorder.rows[: len(ids)])


def _distribution(llm: Any, text: str, ids: list[int], rows: list[TopRow]) -> TokenDistribution:
    """``text`` as the tokens ``ids`` with each one's top-k ``rows``; offsets are characters."""
    offsets, so_far = [], b""
    for token in ids:
        offsets.append(len(so_far.decode("utf-8", errors="ignore")))
        so_far += llm.detokenize([token])
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


def score_answer(
    llm: Any, prompt: list[int], answer: str, top_k: int, states: PrefixStates | None = None
) -> TokenDistribution:
    """The top ``top_k`` log-probabilities at each token of ``answer`` (tokenized as llama.cpp
    tokenizes text) after the ``prompt`` tokens, teacher-forced on ``llm`` (:func:`score_tokens`);
    call it under the model's lock."""
    ids = [int(t) for t in llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False)]
    return _distribution(llm, answer, ids, score_tokens(llm, prompt, ids, top_k, states))


def score_tokens(
    llm: Any, prompt: list[int], ids: list[int], top_k: int, states: PrefixStates | None = None
) -> list[TopRow]:
    """The top-k row at each of ``ids`` after ``prompt``, in one teacher-forced pass. The prompt's
    evaluation reuses the longest prefix at hand: the live context's, or a snapshot in ``states``
    (a teacher whose shots depend on the query's class takes turns between a few long prefixes).
    The context keeps prompt and answer afterwards, as after generating them."""
    if not ids:
        return []
    if len(prompt) + len(ids) > llm.n_ctx():
        raise ValueError(f"prompt and answer take {len(prompt) + len(ids)} tokens, over {llm.n_ctx()}")
    if states is not None:
        pending = states.restore(prompt)
    else:
        llm.n_tokens = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens], prompt[:-1])
        pending = prompt[llm.n_tokens :]
    llm.eval(pending[:-1])
    if states is not None:
        states.save()
    # Position p predicts token p + 1: the rows wanted are the prompt's last token's and the
    # answer's own but its last, evaluated in batches that keep every row's logits.
    forced = [prompt[-1], *ids[:-1]]
    rows: list[TopRow] = []
    for start in range(0, len(forced), llm.n_batch):
        rows += _eval_all_logits(llm, forced[start : start + llm.n_batch], top_k)
    return rows


def _eval_all_logits(llm: Any, tokens: list[int], top_k: int) -> list[TopRow]:
    """Evaluate ``tokens`` at the end of the context as one batch, keeping every position's logits
    (``Llama.eval`` keeps only the last unless the model was loaded with ``logits_all``)."""
    llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
    llm._batch.set_batch(batch=tokens, n_past=llm.n_tokens, logits_all=True)
    llm._ctx.decode(llm._batch)
    vocab = llm.n_vocab()
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(tokens) * vocab,))
    llm.input_ids[llm.n_tokens : llm.n_tokens + len(tokens)] = tokens
    llm.n_tokens += len(tokens)
    return [top_row(logits[i * vocab : (i + 1) * vocab], top_k) for i in range(len(tokens))]
