"""transformers backend on a tiny random 2-layer Llama (+ a LoRA adapter), built in the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.tiny_llama import save_word_llama

from stillhouse.chat import ChatModel, GenerationParams, Image, Message
from stillhouse.errors import CorruptModelError, InvalidInputError, NotFoundError
from stillhouse.models.hf import adapter_base, truncate_at_stop

WORDS = ["the", "a", "cat", "dog", "sea", "sun", "video", "audio", "visual", "music", "guitar", "solo"]
WORDS += ["speech", "text", "hello", "world", "route", "query"]
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)
MESSAGES = [
    Message(role="system", content="route the query"),
    Message(role="user", content="guitar solo video"),
]


def test_truncate_at_stop_picks_the_earliest():
    assert truncate_at_stop("abc END def STOP", ("STOP", "END")) == ("abc ", True)
    assert truncate_at_stop("abc", ("x", "")) == ("abc", False)


def test_adapter_base_requires_a_base(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "smollm2-135m"}))
    assert adapter_base(tmp_path) == "smollm2-135m"
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(CorruptModelError):
        adapter_base(tmp_path)


def _save_tiny(folder: Path) -> Path:
    return save_word_llama(folder, WORDS, TEMPLATE)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return _save_tiny(tmp_path_factory.mktemp("tiny"))


@pytest.mark.model
def test_greedy_generation_and_accounting(tiny_dir):
    from stillhouse.models import load_model

    model = load_model(f"hf:{tiny_dir}")
    assert isinstance(model, ChatModel) and not model.supports_json_schema
    first = model.generate(MESSAGES, GenerationParams(max_tokens=6))
    assert first == model.generate(MESSAGES, GenerationParams(max_tokens=6)).model_copy(
        update={"latency_ms": first.latency_ms}
    )
    # <|system|> route the query <|end|> <|user|> guitar solo video <|end|> <|assistant|>
    assert first.input_tokens == 11
    assert 1 <= first.output_tokens <= 6
    if first.output_tokens == 6:
        assert first.stop_reason == "max_tokens"
    assert set(first.text.split()) <= set(WORDS)


@pytest.mark.model
def test_stop_sequences_cut_the_answer(tiny_dir):
    from stillhouse.models.hf import TransformersModel

    model = TransformersModel(tiny_dir)
    full = model.generate(MESSAGES, GenerationParams(max_tokens=8))
    words = full.text.split()
    if len(words) < 3:
        pytest.skip("the random model ended too early to place a stop word")
    stopped = model.generate(MESSAGES, GenerationParams(max_tokens=8, stop=(words[2],)))
    assert stopped.stop_reason == "stop_sequence"
    assert words[2] not in stopped.text and full.text.startswith(stopped.text.strip())


@pytest.mark.model
def test_seeded_sampling_is_reproducible_and_images_refused(tiny_dir):
    from stillhouse.models.hf import TransformersModel

    model = TransformersModel(tiny_dir)
    params = GenerationParams(max_tokens=8, temperature=1.0, seed=3)
    assert model.generate(MESSAGES, params).text == model.generate(MESSAGES, params).text
    with pytest.raises(InvalidInputError):
        model.generate([Message(role="user", content="x", images=(Image(format="png", data=b"p"),))], params)


@pytest.mark.model
def test_lora_adapter_is_applied(tiny_dir, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from stillhouse.models.hf import TransformersModel

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    lora = get_peft_model(
        base, LoraConfig(r=4, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapter_dir = tmp_path / "adapter"
    lora.save_pretrained(adapter_dir)  # adapter_config.json names tiny_dir as its base
    assert adapter_base(adapter_dir) == str(tiny_dir)

    adapted = TransformersModel(adapter_dir)
    plain = TransformersModel(tiny_dir)
    assert isinstance(adapted._model, PeftModel)
    ids = torch.tensor([[7, 8, 9, 10]])
    with torch.no_grad():
        assert not torch.allclose(adapted._model(ids).logits, plain._model(ids).logits)
    assert adapted.generate(MESSAGES, GenerationParams(max_tokens=4)).output_tokens >= 1


@pytest.mark.model
def test_adapter_with_missing_base_is_not_found(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/no/such/base"}))
    from stillhouse.models.hf import TransformersModel

    with pytest.raises(NotFoundError, match="/no/such/base"):
        TransformersModel(tmp_path)


def test_safe_prefix_holds_back_half_characters_and_stop_starts():
    from stillhouse.models.hf_stream import safe_prefix

    assert safe_prefix("abc", ()) == "abc"
    assert safe_prefix("ab\ufffd", ()) == "ab"
    assert safe_prefix("abcdef", ("STOP",)) == "abc"  # "def" may be the start of "STOP"
    assert safe_prefix("ab", ("STOP", "")) == ""
    assert safe_prefix("ab STOP cd", ("STOP",)) == "ab "  # written: the answer ends there


@pytest.mark.model
@pytest.mark.parametrize("stop", [(), ("video",)])
def test_stream_writes_what_generate_writes(tiny_dir, stop):
    from stillhouse.chat import Completion, collect_stream
    from stillhouse.models.hf import TransformersModel

    model = TransformersModel(tiny_dir)
    params = GenerationParams(max_tokens=12, stop=stop)
    whole = model.generate(MESSAGES, params)
    items = list(model.stream(MESSAGES, params))
    assert all(isinstance(i, str) and i for i in items[:-1]) and isinstance(items[-1], Completion)
    streamed = collect_stream(iter(items))
    assert streamed.model_copy(update={"latency_ms": 0}) == whole.model_copy(update={"latency_ms": 0})
    assert len(items) > 2  # really streamed, not one delta
    assert whole.stop_reason == ("stop_sequence" if stop else "max_tokens")  # the stop was hit


@pytest.mark.model
def test_closing_a_stream_stops_generation(tiny_dir):
    from stillhouse.models.hf import TransformersModel

    model = TransformersModel(tiny_dir)
    long = GenerationParams(max_tokens=100)
    if model.generate(MESSAGES, long).output_tokens < 10:
        pytest.skip("the random model ends too early to interrupt")
    stream = model.stream(MESSAGES, long)
    next(stream)
    stream.close()  # joins the generating thread: the replica is free again
    assert model._lock.acquire(blocking=False)
    model._lock.release()


@pytest.mark.model
def test_distribution_scores_the_greedy_answer(tiny_dir):
    import torch

    from stillhouse.models import load_model

    model = load_model(f"hf:{tiny_dir}")
    params = GenerationParams(max_tokens=6)
    completion, dist = model.generate_with_distribution(MESSAGES, params, 3)
    assert completion.text == model.generate(MESSAGES, params).text == dist.text
    words = completion.text.split()
    assert len(dist.ids) == len(words) and all(len(row) == 3 for row in dist.top_ids)
    assert [completion.text[o:].split()[0] for o in dist.offsets] == words
    for logprobs in dist.top_logprobs:
        assert list(logprobs) == sorted(logprobs, reverse=True) and logprobs[0] <= 0
    # The first position's distribution is the one generation itself sampled the answer from.
    inputs = model._encode(MESSAGES)
    out = model._model.generate(
        **inputs, max_new_tokens=1, do_sample=False, output_scores=True, return_dict_in_generate=True
    )
    first = torch.log_softmax(out.scores[0][0].float(), dim=-1).topk(3)
    assert dist.top_ids[0] == tuple(first.indices.tolist())
    assert dist.top_logprobs[0] == pytest.approx(first.values.tolist(), abs=1e-3)


@pytest.mark.model
def test_scoring_a_given_answer_equals_what_generating_it_greedily_recorded(tiny_dir):
    import torch

    from stillhouse.models import load_model

    model = load_model(f"hf:{tiny_dir}")
    # Three tokens: the tiny model's fourth is a special token, which the decoded answer drops.
    completion = model.generate(MESSAGES, GenerationParams(max_tokens=3))
    scored = model.score_answer(MESSAGES, completion.text, 3)
    out = model._model.generate(
        **model._encode(MESSAGES),
        max_new_tokens=3,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
    )
    assert len(scored.ids) == len(out.scores) == 3
    for step, ids, logprobs in zip(out.scores, scored.top_ids, scored.top_logprobs, strict=True):
        top = torch.log_softmax(step[0].float(), dim=-1).topk(3)
        assert ids == tuple(top.indices.tolist())
        assert list(logprobs) == pytest.approx(top.values.tolist(), abs=1e-3)
    other = model.score_answer(MESSAGES, "audio", 3)
    assert other.text == "audio" and len(other.ids) == 1 and other.top_ids[0] == scored.top_ids[0]
