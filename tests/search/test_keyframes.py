"""Keyframe vectors: with an image-text model configured, each keyframe is embedded by its image
tower into ``keyframe_vec`` and the query, through its text tower, searches them as part of the
visual channel. The model is a tiny random CLIP built here (no image model ships offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.search.conftest import write_segments

from stillhouse.search import config as cfg
from stillhouse.search.engine import SearchRequest, search
from stillhouse.search.ingest import add_segments

pytest.importorskip("lancedb")
pytest.importorskip("transformers")
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIPModel (32-px images, 16-d projection) with MiniLM's packaged tokenizer."""
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    from stillhouse.models.catalog import pull

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(pull("all-minilm-l6-v2")))
    small = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = CLIPConfig(
        text_config={**small, "vocab_size": tokenizer.vocab_size, "max_position_embeddings": 32},
        vision_config={**small, "image_size": 32, "patch_size": 16},
        projection_dim=16,
    )
    folder = tmp_path_factory.mktemp("tiny-clip")
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        folder
    )
    return folder


def _frame(path: Path, colour: tuple[int, int, int]) -> str:
    from PIL import Image

    Image.new("RGB", (48, 40), colour).save(path)
    return str(path)


@pytest.fixture(params=["lancedb"])
def framed(request: pytest.FixtureRequest, home: Path, tmp_path: Path, clip_folder: Path) -> Path:
    rows = [
        # Only a keyframe says what the picture is: its visual channel is the image vector.
        {"video_id": "red", "start": 0, "end": 5, "metadata": {"title": "clip one"},
         "keyframe": _frame(tmp_path / "red.png", (230, 20, 20))},
        {"video_id": "blue", "start": 0, "end": 5, "metadata": {"title": "clip two"}, "keyframe": _frame(tmp_path / "blue.png", (20, 20, 230))},
        {"video_id": "none", "start": 0, "end": 5, "visual": "a green field"},
        {"video_id": "lost", "start": 0, "end": 5, "visual": "a grey wall", "keyframe": str(tmp_path / "missing.png")},
    ]  # fmt: skip
    path = write_segments(tmp_path / "framed.jsonl", rows)
    config = cfg.IngestConfig(embedder="hashing:64", image_embedder=str(clip_folder))
    add_segments("kf", path, ingest=config, engine=request.param)
    return tmp_path


def _table():  # type: ignore[no-untyped-def]
    from stillhouse.search.lance_store import LanceStore

    manifest = cfg.require_manifest("kf")
    store = LanceStore(manifest.uri, vector_index_min_rows=20_000)
    return manifest, store._table(manifest.current().table).to_arrow().sort_by("id").to_pylist()


def test_each_readable_keyframe_is_embedded_by_the_image_tower(framed: Path, clip_folder: Path):
    from stillhouse.models.image_embeddings import ImageTextEmbedder

    manifest, rows = _table()
    assert manifest.current().models["image_embedder"] == clip_folder.name
    assert [r["has_keyframe"] for r in rows] == [True, True, False, False]  # none given / file missing
    model = ImageTextEmbedder(clip_folder)
    expected, readable = model.embed_images([str(framed / "red.png"), str(framed / "blue.png")])
    assert readable == [True, True]
    np.testing.assert_allclose(
        np.array([rows[0]["keyframe_vec"], rows[1]["keyframe_vec"]]), expected, atol=1e-5
    )
    assert not np.allclose(expected[0], expected[1])


@pytest.mark.parametrize("framed", ["lancedb", "milvus"], indirect=True)
def test_the_text_query_searches_keyframes_in_the_visual_channel(framed: Path, clip_folder: Path):
    from stillhouse.models.image_embeddings import ImageTextEmbedder

    query = "a red car"
    model = ImageTextEmbedder(clip_folder)
    frames, _ = model.embed_images([str(framed / "red.png"), str(framed / "blue.png")])
    nearer, farther = (
        ("red", "blue") if float(np.diff(frames @ model.embed([query])[0])[0]) < 0 else ("blue", "red")
    )
    out = search(SearchRequest(query=query, index="kf", weights="1,0,0,0", k=4))
    by_video = {r.video_id: r for r in out.results}
    # Neither framed segment has a caption: its keyframe alone scores its visual channel, whose dense
    # half is then the keyframe list's min-max score (1 for the nearer of the two frames, 0 the other).
    assert by_video[nearer].scores["visual"] == pytest.approx(0.5)
    assert by_video[farther].scores["visual"] == pytest.approx(0.0)
    assert by_video["red"].scores["audio"] is None


def test_an_index_without_an_image_model_has_no_keyframe_vectors(home: Path, tmp_path: Path):
    rows = [
        {
            "video_id": "a",
            "start": 0,
            "end": 5,
            "visual": "x",
            "keyframe": _frame(tmp_path / "a.png", (1, 2, 3)),
        }
    ]
    add_segments(
        "kf", write_segments(tmp_path / "a.jsonl", rows), ingest=cfg.IngestConfig(embedder="hashing:64")
    )
    _, stored = _table()
    assert "keyframe_vec" not in stored[0] and stored[0]["has_keyframe"] is False


def test_a_segment_with_only_a_keyframe_is_indexed_by_its_image_vector(
    home: Path, tmp_path: Path, clip_folder: Path
):
    rows = [
        {"video_id": "bare", "start": 0, "end": 5, "keyframe": _frame(tmp_path / "bare.png", (200, 40, 40))},
        {"video_id": "gone", "start": 0, "end": 5, "keyframe": str(tmp_path / "missing.png")},
        {"video_id": "told", "start": 0, "end": 5, "visual": "a grey wall"},
    ]
    config = cfg.IngestConfig(embedder="hashing:64", image_embedder=str(clip_folder))
    report = add_segments("kf", write_segments(tmp_path / "bare.jsonl", rows), ingest=config)
    assert report.added == 2
    assert [(p.line, p.field) for p in report.problems] == [(2, "segment")]
    assert "missing.png is not a readable local file" in report.problems[0].reason
    _, stored = _table()
    assert [(r["has_keyframe"], r["has_visual"], r["has_metadata"]) for r in stored] == [
        (True, False, False),
        (False, True, False),
    ]
    out = search(SearchRequest(query="a red wall", index="kf", weights="1,0,0,0", k=2))
    assert {r.video_id for r in out.results} == {"bare", "told"}
    assert next(r for r in out.results if r.video_id == "bare").scores["visual"] is not None


def test_a_rebuild_without_the_image_model_reports_the_segments_with_only_a_keyframe(
    home: Path, tmp_path: Path, clip_folder: Path
):
    from stillhouse.search.ingest import rebuild

    rows = [
        {"video_id": "bare", "start": 0, "end": 5, "keyframe": _frame(tmp_path / "bare.png", (200, 40, 40))},
        {"video_id": "told", "start": 0, "end": 5, "visual": "a grey wall"},
    ]
    framed = cfg.IngestConfig(embedder="hashing:64", image_embedder=str(clip_folder))
    add_segments("kf", write_segments(tmp_path / "bare.jsonl", rows), ingest=framed)
    report = rebuild("kf", cfg.IngestConfig(embedder="hashing:64"))
    assert (report.version, report.added) == (2, 1)
    assert [(p.file, p.line, p.field) for p in report.problems] == [("kf_v1", 1, "segment")]
    assert "--image-embedder" in report.problems[0].reason
