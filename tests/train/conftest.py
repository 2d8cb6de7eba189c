"""Fixtures for training tests: a tiny random-weight Llama student with its own tokenizer, built here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.tiny_llama import chatml_tokenizer, save_tiny_llama

from .router_records import SYSTEM, router_records, write_router_records

# Sleeping, not spinning, OpenMP threads: on the shared CPU spinning made steps several times slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]


def build_tiny_student(folder: Path) -> Path:
    """A 2-layer Llama (hidden 32) and a word-level tokenizer trained on the router fixture texts."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    texts = [SYSTEM, "system user assistant"]
    for record in router_records(64, seed=0):
        texts += [turn["content"][0]["text"] for turn in record["messages"]]
    splitter = pre_tokenizers.Whitespace()
    words = sorted({word for text in texts for word, _ in splitter.pre_tokenize_str(text)})
    # An explicit sorted vocabulary (not a trainer): token ids never depend on tie-breaking order.
    vocab = {token: i for i, token in enumerate(SPECIALS + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = splitter
    core.add_special_tokens(SPECIALS)
    tokenizer = chatml_tokenizer(core)
    return save_tiny_llama(folder, tokenizer, max_positions=256)


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_student(tmp_path_factory.mktemp("tiny-student"))


@pytest.fixture()
def router_file(tmp_path: Path) -> Path:
    """Eight router records: the smallest fine-tuning dataset the validator accepts."""
    return write_router_records(tmp_path / "train.jsonl", 8, seed=1)
