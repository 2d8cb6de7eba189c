"""The segment model and the line parser: every bad line names its line and field."""

from __future__ import annotations

import json

import pytest

from stillhouse.search.segments import MAX_CHANNEL_CHARS, Segment, SegmentProblem, parse_segment

GOOD = {"video_id": "v", "start": 1.0, "end": 2.5, "visual": "a dog", "metadata": {"tags": ["a", 1], "n": 2}}


def test_a_good_line_parses_and_knows_its_modalities():
    seg = parse_segment(json.dumps(GOOD), 1)
    assert isinstance(seg, Segment)
    assert seg.modalities() == ("visual", "metadata")
    assert seg.text("metadata") == "tags: a, 1\nn: 2"
    assert seg.text("audio") == ""


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ("{not json", "segment", "invalid JSON"),
        ("[1, 2]", "segment", "JSON object"),
        (json.dumps({**GOOD, "colour": "red"}), "colour", "unknown field"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "video_id"}), "video_id", "required"),
        (json.dumps({**GOOD, "video_id": "  "}), "video_id", "at least 1"),
        (json.dumps({**GOOD, "start": -1}), "start", "greater than or equal"),
        (json.dumps({**GOOD, "start": "soon"}), "start", "number"),
        (json.dumps({**GOOD, "end": 0.5}), "segment", "before start"),
        (json.dumps({"video_id": "v", "start": 0, "end": 1, "visual": " "}), "segment", "at least one of"),
        (json.dumps({**GOOD, "metadata": {"k": {"nested": 1}}}), "metadata.k", ""),
        (json.dumps({**GOOD, "audio": "x" * (MAX_CHANNEL_CHARS + 1)}), "audio", "at most"),
        (json.dumps({**GOOD, "keyframe": 3}), "keyframe", "string"),
    ],
)
def test_each_bad_line_names_its_line_and_field(raw, field, words):
    problem = parse_segment(raw, 7, "f.jsonl")
    assert isinstance(problem, SegmentProblem)
    assert (problem.line, problem.file) == (7, "f.jsonl")
    assert problem.field.startswith(field), problem
    assert words in problem.reason, problem
    assert str(problem).startswith("f.jsonl:7: ")


def test_relative_keyframe_and_media_paths_are_relative_to_the_segment_file(tmp_path):
    from stillhouse.search.segments import iter_segments

    lines = [
        {**GOOD, "keyframe": "frames/1.jpg", "media": "../videos/v.mp4"},
        {**GOOD, "keyframe": "/abs/1.jpg", "media": "s3://bucket/v.mp4"},
    ]
    folder = tmp_path / "segs"
    folder.mkdir()
    (folder / "a.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    for location in (folder / "a.jsonl", folder):
        first, second = iter_segments(location)
        assert (first.keyframe, first.media) == (
            str(folder / "frames/1.jpg"),
            str(folder / "../videos/v.mp4"),
        )
        assert (second.keyframe, second.media) == ("/abs/1.jpg", "s3://bucket/v.mp4")


def test_a_segment_with_only_a_keyframe_parses_but_needs_something_to_read_it(tmp_path):
    from stillhouse.search.segments import KEYFRAME_ALONE, channel_problem

    frame = tmp_path / "f.jpg"
    frame.write_bytes(b"jpeg")
    seg = parse_segment(json.dumps({"video_id": "v", "start": 0, "end": 1, "keyframe": str(frame)}), 1)
    assert isinstance(seg, Segment) and seg.modalities() == ()
    assert channel_problem(seg, keyframes_embedded=False) == KEYFRAME_ALONE
    assert channel_problem(seg, keyframes_embedded=True) is None
    remote = seg.model_copy(update={"keyframe": "s3://bucket/f.jpg"})
    assert "not a readable local file" in str(channel_problem(remote, keyframes_embedded=True))
    assert channel_problem(Segment(video_id="v", start=0, end=1, audio="x"), keyframes_embedded=False) is None
