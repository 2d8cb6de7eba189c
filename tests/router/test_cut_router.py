"""The cut router: a student's first layers fine-tuned into a weights-only router (model tier: the
tiny Llama published with its GGUF; the refusals need no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.router.cut_router import CONFIG_FILE, GGUF_FILE, CutRouter, CutRouterConfig, CutTraining
from stillhouse.router.trainer import kl_divergence
from stillhouse.tasks.video_router.prompt import MODALITIES

TRAINING = CutTraining(layers=1, epochs=3, batch_size=4, weight_type="f32", head_learning_rate=0.05)


def _pairs(count: int = 24) -> tuple[list[str], np.ndarray]:
    from tests.train.router_records import router_records

    queries, rows = [], []
    for record in router_records(count, seed=3):
        queries.append(record["messages"][0]["content"][0]["text"])
        answer = json.loads(record["messages"][1]["content"][0]["text"])
        rows.append([answer[m] for m in MODALITIES])
    return queries, np.array(rows)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama as a published student: its transformers weights and model.gguf."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_llama import write_tiny_gguf
    from tests.train.conftest import build_tiny_student

    folder = build_tiny_student(tmp_path_factory.mktemp("published"))
    write_tiny_gguf(folder)
    return folder


@pytest.fixture(scope="module")
def fitted(published: Path, tmp_path_factory: pytest.TempPathFactory):
    from stillhouse.router.cut_trainer import fit_cut_router

    queries, weights = _pairs()
    out = tmp_path_factory.mktemp("cut") / "router"
    return out, fit_cut_router(published, queries, weights, out, TRAINING)


def test_the_fit_is_seeded_and_learns(fitted, published: Path, tmp_path: Path) -> None:
    from stillhouse.router.cut_trainer import fit_cut_router

    _out, report = fitted
    assert report.examples == 24 and report.steps == 3 * 6
    first, last = np.mean(report.losses[:6]), np.mean(report.losses[-6:])
    assert last < first
    again = fit_cut_router(published, *_pairs(), tmp_path / "again", TRAINING)
    assert again.losses == report.losses and again.final_kl == report.final_kl


def test_llama_cpp_answers_what_torch_learnt(fitted) -> None:
    """The GGUF (one block, the head in an untied vocabulary head) gives llama.cpp the router that
    torch trained: its KL to the teacher on the training rows is the fit's, to float precision."""
    import gguf

    out, report = fitted
    router = CutRouter.load(out, n_threads=1)
    queries, weights = _pairs()
    predicted = router.predict(queries)
    assert predicted.shape == (24, 4) and np.allclose(predicted.sum(axis=1), 1.0)
    assert kl_divergence(weights / weights.sum(axis=1, keepdims=True), predicted) == pytest.approx(
        report.final_kl, abs=1e-4
    )
    reader = gguf.GGUFReader(str(out / GGUF_FILE))
    assert reader.get_field("llama.block_count").contents() == 1
    head = {t.name: np.array(t.data) for t in reader.tensors}["output.weight"]
    rows = np.flatnonzero(np.abs(head).sum(axis=1))
    assert sorted(rows.tolist()) == sorted(router.config.head_tokens)
    assert router.predict([]).shape == (0, 4)


def test_the_folder_is_a_model_answering_the_router_json(fitted) -> None:
    from stillhouse.models import load_model
    from stillhouse.router.cut_router import CutRouterModel
    from stillhouse.tasks import get_task

    out, _report = fitted
    model = load_model(str(out))
    assert isinstance(model, CutRouterModel)
    answer = model.generate([Message(role="user", content="a dog barking far away")], GenerationParams())
    value = json.loads(answer.text)
    assert sum(value[m] for m in MODALITIES) == pytest.approx(1.0)
    assert "first 1 layers" in value["reasoning"] and answer.output_tokens == 0
    assert get_task("video-router").parse(answer.text).ok
    with pytest.raises(InvalidInputError):
        model.generate([Message(role="system", content="no user turn")], GenerationParams())
    with pytest.raises(InvalidInputError):
        model.generate([Message(role="user", content="   ")], GenerationParams())
    with pytest.raises(InvalidInputError):
        model.router.predict("one string")  # type: ignore[arg-type]


def test_bad_fits_are_refused_before_training(published: Path, tmp_path: Path) -> None:
    from stillhouse.router.cut_trainer import fit_cut_router

    queries, weights = _pairs(8)
    with pytest.raises(InvalidInputError):
        fit_cut_router(published, queries[:3], weights, tmp_path / "r", TRAINING)
    with pytest.raises(InvalidInputError):
        fit_cut_router(published, [], np.zeros((0, 4)), tmp_path / "r", TRAINING)
    with pytest.raises(InvalidInputError):
        fit_cut_router(tmp_path, queries, weights, tmp_path / "r", TRAINING)  # not a published student
    with pytest.raises(InvalidInputError):
        fit_cut_router(published, queries, weights, tmp_path / "r", TRAINING.model_copy(update={"layers": 3}))
    with pytest.raises(InvalidInputError):
        fit_cut_router(published, queries, -weights, tmp_path / "r", TRAINING)
    assert not (tmp_path / "r").exists()


def test_settings_and_folders_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        CutTraining(layers=0)
    with pytest.raises(ValidationError):
        CutTraining(epochs=4, momentum=0.9)  # type: ignore[call-arg]
    with pytest.raises(NotFoundError):
        CutRouter.load(tmp_path)
    config = CutRouterConfig(
        student="s", modalities=list(MODALITIES), head_tokens=[5, 5, 6, 7], training=CutTraining()
    )
    with pytest.raises(InvalidInputError):
        CutRouter(object(), config)
    with pytest.raises(InvalidInputError):
        CutRouter(object(), config.model_copy(update={"head_tokens": [1, 2, 3, 4], "modalities": ["a"]}))
    (tmp_path / CONFIG_FILE).write_text("{}")
    with pytest.raises(NotFoundError):  # no router.gguf beside it
        CutRouter.load(tmp_path)


class _Vocab:
    """A tokenizer that starts every name with token 7 (head rows must still be distinct)."""

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return [7, 9] if text else []

    def n_vocab(self) -> int:
        return 9


def test_head_rows_are_distinct_when_names_start_alike() -> None:
    from stillhouse.router.cut_trainer import head_tokens

    assert head_tokens(_Vocab()) == [7, 8, 0, 1]


class _Bytes:
    """A tokenizer of one token per byte (+1000 for text read with special tokens allowed)."""

    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return ([1] if add_bos else []) + [b + (1000 if special else 0) for b in text]


def test_the_suffix_follows_the_query_and_survives_the_cut() -> None:
    from stillhouse.router.cut_router import MAX_TOKENS, query_tokens

    assert query_tokens(_Bytes(), "ab", "<s>") == [1, 97, 98, 1060, 1115, 1062]
    assert query_tokens(_Bytes(), "ab", "") == [1, 97, 98]
    long = query_tokens(_Bytes(), "x" * 1000, "!")
    assert len(long) == MAX_TOKENS and long[-1] == 1033 and long[-2] == ord("x")
    with pytest.raises(InvalidInputError):
        query_tokens(_Bytes(), " \n", "!")
