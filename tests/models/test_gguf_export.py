"""GGUF export: a de-quantized SmolLM2 written back to GGUF answers like the original in llama.cpp."""

from __future__ import annotations

import numpy as np
import pytest

from stillhouse.models.gguf_export import _permute_qk


def test_permute_qk_is_inverse_of_transformers_reverse_permute():
    # transformers' LlamaTensorProcessor._reverse_permute_weights, restated: llama.cpp -> HF layout.
    def reverse(w: np.ndarray, n_head: int) -> np.ndarray:
        dim = w.shape[0] // n_head // 2
        return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)

    w = np.arange(8 * 12 * 3, dtype=np.float32).reshape(24, 12)
    assert np.array_equal(reverse(_permute_qk(w, 3), 3), w)
    assert not np.array_equal(_permute_qk(w, 3), w)


@pytest.mark.integration
def test_smollm2_round_trip_matches_original(tmp_path):
    llama_cpp = pytest.importorskip("llama_cpp")
    from stillhouse.models import catalog
    from stillhouse.models.gguf_export import export_gguf
    from stillhouse.models.registry import resolve

    original = catalog.pull("smollm2-135m")
    converted = resolve("hf:smollm2-135m").path
    assert converted is not None
    exported = export_gguf(converted, original, tmp_path / "s.gguf", weight_type="f16")
    messages = [
        {"role": "system", "content": "You route video search queries."},
        {"role": "user", "content": "guitar solo at a rock concert"},
    ]
    answers = []
    for path in (original, exported):
        llm = llama_cpp.Llama(str(path), n_ctx=256, n_threads=2, verbose=False, seed=0)
        out = llm.create_chat_completion(messages, max_tokens=12, temperature=0.0)
        answers.append(out["choices"][0]["message"]["content"])
    # f16 export of the de-quantized Q4_1 weights: greedy decoding agrees with the original file.
    assert answers[0] == answers[1]
