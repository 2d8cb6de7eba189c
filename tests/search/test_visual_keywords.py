"""Keyframes labelled by a keyword model become the visual channel's text: a segment with only a
transcription is then found by what its keyframe shows; an unreadable keyframe is its line's problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.photos import write_photos
from tests.search.conftest import write_segments

from stillhouse.chat import GenerationParams, Message
from stillhouse.models.fake import FakeModel
from stillhouse.search import config as cfg
from stillhouse.search.engine import SearchRequest, search
from stillhouse.search.ingest import add_segments
from stillhouse.search.segments import Segment
from stillhouse.search.visual_keywords import VisualKeywords

pytest.importorskip("lancedb")
HASHING = cfg.IngestConfig(embedder="hashing")


def keyword_model() -> FakeModel:
    """Answers 'tabby cat' keywords for the chelsea photo and 'astronaut' ones for the other."""

    def answer(messages: list[Message], params: GenerationParams) -> str:
        assert messages[0].role == "system" and len(messages[-1].images) == 1
        size = len(messages[-1].images[0].data)
        return "Tabby Cats, whiskers, indoor" if size == CHELSEA_SIZE[0] else "astronaut, space suit, flag"

    return FakeModel(answer, name="fake-keywords")


CHELSEA_SIZE: list[int] = []


@pytest.fixture
def keyframes(tmp_path: Path) -> Path:
    from stillhouse.sources.images import ImageConfig, prepare_image

    folder = tmp_path / "frames"
    paths = write_photos(folder, 3, max_side=64)  # astronaut, coffee, chelsea
    CHELSEA_SIZE[:] = [len(prepare_image(paths[2].read_bytes(), ImageConfig()).image.data)]
    return folder


def test_enrich_puts_the_keywords_after_the_visual_text(keyframes):
    labeller = VisualKeywords(keyword_model())
    bare = Segment(
        video_id="v", start=0, end=1, transcription="hello", keyframe=str(keyframes / "chelsea.png")
    )
    assert labeller.enrich(bare).visual == "tabby cat, whisker, indoor"
    described = bare.model_copy(update={"visual": "a cat"})
    assert labeller.enrich(described).visual == "a cat\ntabby cat, whisker, indoor"
    assert labeller.enrich(Segment(video_id="v", start=0, end=1, audio="x")).visual is None


def test_keyframe_keywords_make_a_segment_findable_by_what_it_shows(home, tmp_path, keyframes):
    rows = [
        {
            "video_id": "pets",
            "start": 0,
            "end": 5,
            "transcription": "good morning",
            "keyframe": "frames/chelsea.png",
        },
        {
            "video_id": "space",
            "start": 0,
            "end": 5,
            "transcription": "good morning",
            "keyframe": "frames/astronaut.png",
        },
        {
            "video_id": "lost",
            "start": 0,
            "end": 5,
            "transcription": "good morning",
            "keyframe": "frames/none.png",
        },
    ]
    model = keyword_model()
    report = add_segments(
        "idx", write_segments(tmp_path / "s.jsonl", rows), ingest=HASHING, visual_keywords=model
    )
    assert report.added == 2 and len(model.calls) == 2
    assert [(p.line, p.field) for p in report.problems] == [(3, "keyframe")]
    assert "cannot read" in report.problems[0].reason
    out = search(SearchRequest(query="tabby cat", index="idx", weights="1,0,0,0"))
    assert out.results[0].video_id == "pets" and "tabby cat" in out.results[0].evidence["visual"]
    assert cfg.require_manifest("idx").current().models["visual_keywords"] == "fake-keywords"


def test_an_answer_with_no_keyword_is_the_lines_problem(home, tmp_path, keyframes):
    rows = [{"video_id": "v", "start": 0, "end": 1, "audio": "hum", "keyframe": "frames/coffee.png"}]
    report = add_segments(
        "idx", write_segments(tmp_path / "s.jsonl", rows), ingest=HASHING, visual_keywords=FakeModel([" , "])
    )
    assert report.added == 0 and "wrote no keyword" in report.problems[0].reason


def test_a_segment_with_only_a_keyframe_is_indexed_by_its_keywords(home, tmp_path, keyframes):
    rows = [
        {"video_id": "pets", "start": 0, "end": 5, "keyframe": "frames/chelsea.png"},
        {"video_id": "space", "start": 0, "end": 5, "keyframe": "frames/astronaut.png"},
    ]
    report = add_segments(
        "idx", write_segments(tmp_path / "s.jsonl", rows), ingest=HASHING, visual_keywords=keyword_model()
    )
    assert report.added == 2 and report.problems == []
    out = search(SearchRequest(query="tabby cat", index="idx", weights="1,0,0,0"))
    top = out.results[0]
    assert top.video_id == "pets" and "tabby cat" in top.evidence["visual"]
    assert top.scores["visual"] and top.scores["transcription"] is None and top.scores["metadata"] is None


def test_a_segment_with_only_a_keyframe_and_nothing_to_read_it_is_its_lines_problem(
    home, tmp_path, keyframes
):
    rows = [
        {"video_id": "a", "start": 0, "end": 5, "audio": "hum"},
        {"video_id": "b", "start": 0, "end": 5, "keyframe": "frames/chelsea.png"},
        {"video_id": "c", "start": 0, "end": 5, "keyframe": "frames/chelsea.png", "visual": "  "},
    ]
    report = add_segments("idx", write_segments(tmp_path / "s.jsonl", rows), ingest=HASHING)
    assert report.added == 1
    assert [(p.line, p.field) for p in report.problems] == [(2, "segment"), (3, "segment")]
    assert (
        "--image-embedder" in report.problems[0].reason and "--visual-keywords" in report.problems[0].reason
    )
    assert str(report.problems[0]) == f"line 2: segment: {report.problems[0].reason}"
