"""llama.cpp answers with their top-k log-probabilities, on the tiny GGUF: aligned with the answer's
tokens and equal to what llama-cpp-python itself reports with ``logits_all=True``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stillhouse.chat import GenerationParams, Message

pytestmark = pytest.mark.model

MESSAGES = [
    Message(role="system", content="route"),
    Message(role="user", content="sunset over snowy mountains"),
]


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llama_cpp")
    from tests.tiny_llama import write_tiny_gguf
    from tests.train.conftest import build_tiny_student

    return write_tiny_gguf(build_tiny_student(tmp_path_factory.mktemp("gguf")))


@pytest.mark.parametrize("max_tokens", [6, 40])
def test_distribution_follows_the_answer_tokens(tiny_gguf: Path, max_tokens: int) -> None:
    from stillhouse.models.llamacpp import LlamaCppModel

    model = LlamaCppModel(tiny_gguf, n_threads=1)
    params = GenerationParams(max_tokens=max_tokens)
    completion, dist = model.generate_with_distribution(MESSAGES, params, 4)
    assert completion.text == model.generate(MESSAGES, params).text and dist.text == completion.text
    assert len(dist.ids) == len(dist.offsets) == len(dist.top_ids) == len(dist.top_logprobs) > 0
    assert len(dist.ids) == completion.output_tokens
    pieces = [model._llm.detokenize([t]).decode() for t in dist.ids]
    assert "".join(pieces) == completion.text
    assert list(dist.offsets) == [len("".join(pieces[:i])) for i in range(len(pieces))]
    for chosen, ids, logprobs in zip(dist.ids, dist.top_ids, dist.top_logprobs, strict=True):
        assert ids[0] == chosen  # greedy: the written token is the most likely one
        assert list(logprobs) == sorted(logprobs, reverse=True) and sum(map(math.exp, logprobs)) <= 1.0001


def test_values_match_llama_cpp_pythons_own_logprobs(tiny_gguf: Path) -> None:
    from llama_cpp import Llama

    from stillhouse.models.llamacpp import LlamaCppModel

    _, dist = LlamaCppModel(tiny_gguf, n_threads=1).generate_with_distribution(
        MESSAGES, GenerationParams(max_tokens=6), 3
    )
    llm = Llama(model_path=str(tiny_gguf), logits_all=True, n_threads=1, verbose=False)
    reply = llm.create_chat_completion(
        messages=[{"role": m.role, "content": m.content} for m in MESSAGES],
        max_tokens=6,
        temperature=0.0,
        logprobs=True,
        top_logprobs=3,
    )
    theirs = reply["choices"][0]["logprobs"]["content"]
    assert len(theirs) == len(dist.ids)
    for ours, entry in zip(dist.top_logprobs, theirs, strict=True):
        assert [t["logprob"] for t in entry["top_logprobs"]] == pytest.approx(list(ours), abs=2e-3)


@pytest.mark.parametrize("max_tokens", [6, 40])
def test_scoring_the_greedy_answer_gives_the_distribution_generation_recorded(
    tiny_gguf: Path, max_tokens: int
) -> None:
    from stillhouse.models.llamacpp import LlamaCppModel, to_llama_messages
    from stillhouse.models.llamacpp_distribution import score_tokens

    model = LlamaCppModel(tiny_gguf, n_threads=1)
    params = GenerationParams(max_tokens=max_tokens)
    completion, written = model.generate_with_distribution(MESSAGES, params, 4)
    # The tiny GGUF's merge-less vocabulary does not tokenize text back into the tokens it wrote,
    # so its own tokens are forced here (score_answer tokenizes the text, as below).
    prompt = model._prompt_tokens(to_llama_messages(MESSAGES))
    rows = score_tokens(model._llm, prompt, list(written.ids), 4)
    assert [ids for ids, _ in rows] == list(written.top_ids)
    for (_, ours), theirs in zip(rows, written.top_logprobs, strict=True):
        assert list(ours) == pytest.approx(list(theirs), abs=2e-3)
    # The context now holds prompt and answer: scoring again from there (its prefix reused) gives
    # the same rows, and a generation afterwards still writes the same answer.
    assert score_tokens(model._llm, prompt, list(written.ids), 4) == rows
    assert model.generate(MESSAGES, params).text == completion.text


def test_scoring_an_answer_follows_the_tokens_llama_cpp_reads_in_it(tiny_gguf: Path) -> None:
    from stillhouse.models.llamacpp import LlamaCppModel

    model = LlamaCppModel(tiny_gguf, n_threads=1)
    answer = "a"  # the one word the tiny GGUF's vocabulary tokenizes from text
    scored = model.score_answer(MESSAGES, answer, 3)
    assert scored.ids == tuple(model._llm.tokenize(answer.encode(), add_bos=False, special=False))
    assert scored.text == answer and scored.offsets == (0,) and len(scored.top_ids[0]) == 3
    assert model.score_answer(MESSAGES, "", 3).ids == ()


def test_scoring_prompts_that_take_turns_restores_their_prefixes_with_the_same_rows(tiny_gguf: Path) -> None:
    from stillhouse.models.llamacpp import LlamaCppModel, to_llama_messages
    from stillhouse.models.llamacpp_distribution import score_tokens
    from stillhouse.models.llamacpp_states import PrefixStates

    model = LlamaCppModel(tiny_gguf, n_threads=1)
    states = PrefixStates(model._llm)
    shots = [Message(role="user", content="guitar solo " * 12), Message(role="assistant", content="audio")]
    first = model._prompt_tokens(to_llama_messages([MESSAGES[0], *shots, MESSAGES[1]]))
    other = model._prompt_tokens(to_llama_messages([Message(role="system", content="other"), MESSAGES[1]]))
    ids = list(model._llm.tokenize(b"a", add_bos=False, special=False)) * 3
    alone = score_tokens(model._llm, first, ids, 3)
    score_tokens(model._llm, first, ids, 3, states)
    score_tokens(model._llm, other, ids, 3, states)
    assert score_tokens(model._llm, first, ids, 3, states) == alone and states.restored == 1
