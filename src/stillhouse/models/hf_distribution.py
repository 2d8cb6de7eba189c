"""A transformers model's top-k distributions over an answer, by one teacher-forced forward pass.

Scoring the written answer after generating it costs one forward pass over prompt and answer (the
answer's positions in one batch), and gives exactly the distributions generation sampled from when
the answer re-tokenizes as it was written; it needs no change to ``generate``'s decoding.
"""

from __future__ import annotations

from typing import Any

from stillhouse.chat import LOGPROB_DECIMALS, TokenDistribution


def score_answer(
    model: Any, tokenizer: Any, prompt_ids: list[int], answer: str, top_k: int
) -> TokenDistribution:
    """The top ``top_k`` next-token log-probabilities at each token of ``answer`` after ``prompt_ids``."""
    import torch

    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    if not ids:
        return TokenDistribution(text=answer, offsets=(), ids=(), top_ids=(), top_logprobs=())
    full = torch.tensor([prompt_ids + ids])
    with torch.inference_mode():
        logits = model(input_ids=full, use_cache=False).logits[0].float()
    # Position p predicts token p + 1: the answer's tokens are predicted from len(prompt) - 1 on.
    start = len(prompt_ids) - 1
    logprobs = torch.log_softmax(logits[start : start + len(ids)], dim=-1)
    top = logprobs.topk(min(top_k, logprobs.shape[-1]), dim=-1)
    return TokenDistribution(
        text=answer,
        offsets=tuple(int(s) for s, _ in enc["offset_mapping"]),
        ids=tuple(ids),
        top_ids=tuple(tuple(row) for row in top.indices.tolist()),
        top_logprobs=tuple(tuple(round(v, LOGPROB_DECIMALS) for v in row) for row in top.values.tolist()),
    )
