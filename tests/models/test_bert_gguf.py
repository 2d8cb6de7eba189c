"""BERT → GGUF: the vocabulary form, a tiny random BERT against torch, and the packaged MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.models.bert_gguf import export_bert_gguf, phantom_vocab

WORDS = ["dog", "bark", "##ing", "at", "the", "mail", "##man", "music", "loud", "a"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_phantom_vocab_marks_word_starts_and_keeps_specials():
    assert phantom_vocab(["[CLS]", "dog", "##ing"], {"[CLS]"}) == ["[CLS]", "\u2581dog", "ing"]


def tiny_bert(folder: Path) -> Path:
    """A 2-layer random BERT saved as a sentence-transformers folder with a 15-token vocabulary."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(SPECIALS + WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}), encoding="utf-8")
    return folder


def torch_embedding(folder: Path, ids: list[int]) -> np.ndarray:
    """Mean-pooled, unit-norm last hidden state: what sentence-transformers computes."""
    import torch
    from transformers import BertModel

    model = BertModel.from_pretrained(folder, add_pooling_layer=False).eval()
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0].mean(0).numpy()
    return hidden / np.linalg.norm(hidden)


@pytest.mark.model
def test_a_tiny_bert_embeds_in_llama_cpp_as_in_torch(tmp_path):
    pytest.importorskip("llama_cpp")
    from stillhouse.models.embeddings import GgufEmbedder

    folder = tiny_bert(tmp_path / "bert")
    embedder = GgufEmbedder(export_bert_gguf(folder, tmp_path / "bert.gguf"), n_threads=1)
    vocab = SPECIALS + WORDS
    ids = [vocab.index(t) for t in ["[CLS]", "dog", "bark", "##ing", "at", "the", "mail", "##man", "[SEP]"]]
    assert list(embedder._llm.tokenize(b"Dog barking at the mailman", add_bos=True)) == ids
    ours = embedder.embed(["Dog barking at the mailman"])[0]
    assert embedder.dim == 32 and float(ours @ torch_embedding(folder, ids)) > 0.9999


def test_cased_or_non_bert_folders_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a BERT"):
        export_bert_gguf(tmp_path, tmp_path / "x.gguf")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="uncased"):
        export_bert_gguf(tmp_path, tmp_path / "x.gguf")


@pytest.mark.integration
def test_packaged_minilm_as_gguf_matches_sentence_transformers(models_home):
    pytest.importorskip("llama_cpp")
    from stillhouse.models.embeddings import load_embedder, minilm_gguf

    queries = [
        "a dog barking at the mailman",
        "someone saying 'I'll be back'",
        "Ｐｉｘａｒ shorts 2019",
        "ピアノ",
    ]
    gguf, reference = load_embedder("minilm-gguf"), load_embedder("minilm")
    assert minilm_gguf().is_file() and minilm_gguf().parent == models_home  # written once, then reused
    cosines = (gguf.embed(queries) * reference.embed(queries)).sum(axis=1)
    assert gguf.dim == 384 and cosines.min() > 0.9999
