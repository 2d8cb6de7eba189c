"""GGUF → safetensors conversion: atomic and cached; the converted SmolLM2 decodes like llama.cpp."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.models import catalog, convert
from stillhouse.models.registry import resolve


class _FakeLoaded:
    """Stands in for a GGUF-loaded model/tokenizer: records what convert_gguf clears and writes."""

    def __init__(self) -> None:
        self.config = SimpleNamespace(quantization_config={"quant_method": "gguf"})
        self.hf_quantizer = object()
        self.is_quantized = True

    def save_pretrained(self, folder: Path, **kwargs) -> None:
        assert self.hf_quantizer is None and not self.is_quantized
        assert not hasattr(self.config, "quantization_config")
        (Path(folder) / "config.json").write_text("{}")


class _FakeTokenizer:
    def save_pretrained(self, folder: Path, **kwargs) -> None:
        (Path(folder) / "tokenizer.json").write_text("{}")


def test_convert_is_atomic_and_replaces_half_written_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "_load_from_gguf", lambda gguf: (_FakeLoaded(), _FakeTokenizer()))
    out = tmp_path / "hf"
    out.mkdir()
    (out / "junk").write_text("from an interrupted run")  # no marker: not a finished conversion
    assert not convert.is_converted(out)
    assert convert.convert_gguf(tmp_path / "m.gguf", out) == out
    assert convert.is_converted(out) and not (out / "junk").exists()
    assert json.loads((out / ".stillhouse-converted.json").read_text())["source"].endswith("m.gguf")
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]  # no temporary folder left


def test_an_hf_spec_of_a_local_gguf_converts_it_once(tmp_path, models_home, monkeypatch):
    calls = []
    monkeypatch.setattr(
        convert, "_load_from_gguf", lambda gguf: calls.append(gguf) or (_FakeLoaded(), _FakeTokenizer())
    )
    gguf = tmp_path / "student.gguf"
    gguf.write_bytes(b"GGUF")
    first = resolve(f"hf:{gguf}").path
    assert first.parent == models_home / "converted" and first.name.startswith("student-")
    assert resolve(f"hf:{gguf}").path == first and len(calls) == 1


@pytest.mark.integration
def test_smollm2_converted_once_and_reused(monkeypatch):
    pytest.importorskip("torch")
    folder = resolve("hf:smollm2-135m").path
    assert folder is not None
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    monkeypatch.setattr(convert, "convert_gguf", lambda *a: pytest.fail("must reuse the cached conversion"))
    started = time.perf_counter()
    assert resolve("hf:smollm2-135m").path == folder
    assert time.perf_counter() - started < 1.0
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]


@pytest.fixture(scope="module")
def converted():
    """The converted SmolLM2 behind the transformers backend (loaded once for the tests below)."""
    pytest.importorskip("torch")
    from stillhouse.models import load_model

    return load_model("hf:smollm2-135m")


@pytest.mark.integration
def test_converted_smollm2_decodes_like_llama_cpp(converted):
    pytest.importorskip("llama_cpp")
    from stillhouse.models import load_model

    gguf = load_model("smollm2-135m", n_ctx=512, n_threads=1)
    params = GenerationParams(max_tokens=12)
    # Prompts whose greedy path has no near-ties: the Q4_1 kernels and fp32 torch agree token for token.
    for prompt in ("Count from 1 to 10.", "What is 2+2?"):
        messages = [Message(role="user", content=prompt)]
        assert converted.generate(messages, params).text == gguf.generate(messages, params).text


@pytest.mark.integration
def test_converted_next_token_logits_track_llama_cpp(converted):
    torch = pytest.importorskip("torch")
    llama_cpp = pytest.importorskip("llama_cpp")

    # A prompt with a near-tie at the first token ("The" vs "La"): greedy texts differ, logits agree.
    tokenizer, model = converted._tokenizer, converted._model
    chat = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    llm = llama_cpp.Llama(
        str(catalog.pull("smollm2-135m")), n_ctx=256, n_threads=1, verbose=False, logits_all=True
    )
    llm.eval(ids)
    theirs = np.asarray(llm.scores[len(ids) - 1])
    with torch.no_grad():
        ours = model(torch.tensor([ids])).logits[0, -1].numpy()
    assert np.corrcoef(ours, theirs)[0, 1] > 0.99
    top_ours, top_theirs = set(np.argsort(-ours)[:5]), set(np.argsort(-theirs)[:5])
    assert len(top_ours & top_theirs) >= 4
