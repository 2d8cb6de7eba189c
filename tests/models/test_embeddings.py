"""Embedders: unit-norm rows, determinism, similarity order, spec parsing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.embeddings import Embedder, HashingEmbedder, l2_normalise, load_embedder


def test_hashing_rows_are_unit_norm_and_empty_text_is_zero():
    vectors = HashingEmbedder(dim=64).embed(["a cat on a mat", "", "ZEBRA crossing!"])
    assert vectors.shape == (3, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), [1, 0, 1], atol=1e-6)
    assert HashingEmbedder().embed([]).shape == (0, 256)


def test_hashing_is_deterministic_across_processes():
    code = (
        "from stillhouse.models.embeddings import HashingEmbedder\n"
        "print(HashingEmbedder(dim=32).embed(['guitar solo at a concert']).round(6).tolist())"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in "ab"
    }
    assert len(runs) == 1
    here = HashingEmbedder(dim=32).embed(["guitar solo at a concert"]).round(6).tolist()
    assert runs.pop().strip() == str(here)


def test_hashing_similarity_follows_shared_spelling():
    e = HashingEmbedder()
    a, b, c = e.embed(["sunset over the mountains", "sunsets over mountain peaks", "quarterly earnings call"])
    assert a @ b > 0.5 > a @ c
    assert isinstance(e, Embedder)


def test_l2_normalise_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_load_embedder_specs(tmp_path):
    assert load_embedder("hashing").dim == 256
    assert load_embedder("hashing:512").dim == 512
    with pytest.raises(InvalidInputError):
        load_embedder("hashing:wide")
    with pytest.raises(NotFoundError):
        load_embedder("clip-vit")
    with pytest.raises(NotFoundError):
        load_embedder(str(tmp_path))  # a folder without a model


@pytest.mark.integration
def test_minilm_from_its_package():
    embedder = load_embedder("minilm")
    assert embedder.dim == 384
    query, close, far = embedder.embed(
        ["a dog playing fetch", "a puppy chasing a ball", "stock market crash"]
    )
    assert np.isclose(np.linalg.norm(query), 1.0, atol=1e-5)
    assert query @ close > query @ far + 0.2
