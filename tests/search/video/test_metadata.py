"""A video's metadata: sidecar over container tags, and its id."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.search.video.metadata import read_sidecar, video_id, video_metadata


def test_sidecar_fields_override_container_tags_and_unset_tags_are_dropped(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    meta = video_metadata(
        video,
        {"title": "Mine", "channel": "North", "people": ["Ann", 3], "extra": {"a": 1}, "video_id": "x"},
        {"title": "Theirs", "artist": "Bo", "language": "und", "encoder": "Lavf"},
    )
    assert meta == {
        "title": "Mine",
        "artist": "Bo",
        "channel": "North",
        "people": ["Ann", 3],
        "extra": '{"a": 1}',
        "file": "clip.mp4",
    }


def test_the_title_defaults_to_the_file_stem(tmp_path: Path) -> None:
    assert video_metadata(tmp_path / "a b.mkv", {}, {})["title"] == "a b"


def test_video_id_is_the_stem_unless_the_sidecar_gives_one(tmp_path: Path) -> None:
    assert video_id(tmp_path / "clip.mp4", {}) == "clip"
    assert video_id(tmp_path / "clip.mp4", {"video_id": "yt-123"}) == "yt-123"
    assert video_id(tmp_path / "clip.mp4", {"video_id": "  "}) == "clip"


def test_read_sidecar(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    assert read_sidecar(video) == {}
    (tmp_path / "clip.json").write_text('{"channel": "N"}')
    assert read_sidecar(video) == {"channel": "N"}


@pytest.mark.parametrize(
    ("text", "reason"), [("{oops", "not valid JSON"), ("[1, 2]", "expected a JSON object")]
)
def test_a_bad_sidecar_is_an_error_naming_the_file(tmp_path: Path, text: str, reason: str) -> None:
    (tmp_path / "clip.json").write_text(text)
    with pytest.raises(InvalidInputError, match=f"clip.json: {reason}"):
        read_sidecar(tmp_path / "clip.mp4")
