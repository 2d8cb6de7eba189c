"""A student's GGUF cut to its first layers and run as an encoder (model tier: the tiny Llama)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.models.gguf_layers import gguf_block_count, truncate_gguf


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("llama_cpp")
    from tests.tiny_llama import write_tiny_gguf
    from tests.train.conftest import build_tiny_student

    return write_tiny_gguf(build_tiny_student(tmp_path_factory.mktemp("gguf")))


def _tensors(path: Path) -> dict[str, np.ndarray]:
    import gguf

    return {t.name: np.array(t.data) for t in gguf.GGUFReader(str(path)).tensors}


def test_the_cut_keeps_the_first_blocks_byte_for_byte_and_drops_the_rest(tiny_gguf, tmp_path) -> None:
    import gguf

    assert gguf_block_count(tiny_gguf) == 2
    cut = truncate_gguf(tiny_gguf, tmp_path / "l1.gguf", 1, "last")
    source, kept = _tensors(tiny_gguf), _tensors(cut)
    assert gguf_block_count(cut) == 1
    expected = {n for n in source if not n.startswith("blk.1.") and n != "output.weight"}
    assert set(kept) == expected and any(n.startswith("blk.0.") for n in kept)
    assert all(np.array_equal(kept[n], source[n]) for n in kept)
    reader = gguf.GGUFReader(str(cut))
    assert reader.get_field("llama.pooling_type").contents() == 3  # llama.cpp's LAST
    assert (
        reader.get_field("tokenizer.ggml.tokens").contents()
        == gguf.GGUFReader(str(tiny_gguf)).get_field("tokenizer.ggml.tokens").contents()
    )


def test_the_cut_runs_as_an_encoder_whose_pooling_and_depth_change_its_vectors(tiny_gguf, tmp_path) -> None:
    from stillhouse.models.embeddings import GgufEmbedder, load_embedder

    texts = ["a dog barking at night", "the word stop on a sign"]
    vectors = {}
    for layers, pooling in ((1, "mean"), (1, "last"), (2, "mean")):
        path = truncate_gguf(tiny_gguf, tmp_path / f"l{layers}-{pooling}.gguf", layers, pooling)
        embedder = load_embedder(str(path))
        assert isinstance(embedder, GgufEmbedder) and embedder.dim == 32
        vectors[layers, pooling] = embedder.embed(texts)
        assert vectors[layers, pooling].shape == (2, 32)
        assert np.allclose(np.linalg.norm(vectors[layers, pooling], axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[1, "mean"], vectors[1, "last"])
    assert not np.allclose(vectors[1, "mean"], vectors[2, "mean"])


def test_a_fast_router_on_the_cut_saves_and_loads_with_its_encoder(tiny_gguf, tmp_path) -> None:
    from stillhouse.chat import GenerationParams
    from stillhouse.models import load_model
    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.trainer import fit
    from stillhouse.tasks import get_task

    path = truncate_gguf(tiny_gguf, tmp_path / "l1.gguf", 1)
    router = FastRouter.from_spec(str(path))
    fit(router, ["a dog barking", "someone says hello"], [[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]])
    router.save(tmp_path / "router")
    task = get_task("video-router")
    answer = load_model(str(tmp_path / "router")).generate(task.messages("a dog barking"), GenerationParams())
    assert task.parse(answer.text).ok
    assert np.allclose(
        FastRouter.load(tmp_path / "router").predict(["a dog barking"]), router.predict(["a dog barking"])
    )


@pytest.mark.parametrize("layers", [0, 3])
def test_a_cut_to_no_layers_or_more_than_there_are_is_refused(tiny_gguf, tmp_path, layers) -> None:
    with pytest.raises(InvalidInputError, match=f"has 2 layers; cannot keep {layers}") as info:
        truncate_gguf(tiny_gguf, tmp_path / "x.gguf", layers)
    assert info.value.field == "layers" and not (tmp_path / "x.gguf").exists()


def test_an_unknown_pooling_a_missing_file_and_a_file_that_is_no_gguf_are_refused(
    tiny_gguf, tmp_path
) -> None:
    with pytest.raises(InvalidInputError, match="pooling must be one of mean, last"):
        truncate_gguf(tiny_gguf, tmp_path / "x.gguf", 1, "cls")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no GGUF file"):
        truncate_gguf(tmp_path / "missing.gguf", tmp_path / "x.gguf", 1)
    (tmp_path / "junk.gguf").write_bytes(b"not a gguf at all")
    with pytest.raises(InvalidInputError, match="is not a GGUF file"):
        gguf_block_count(tmp_path / "junk.gguf")
