"""Fixtures for the search tests: an isolated STILLHOUSE_HOME and a small segment file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# Six segments of three videos; some lack a modality. Queries in the tests target them by one channel.
SEGMENTS: list[dict] = [
    {
        "video_id": "drive",
        "start": 0.0,
        "end": 10.0,
        "visual": "a red sports car speeds along a coastal highway",
        "audio": "engine roar, car horn",
        "transcription": "We are driving to the coast. The weather is perfect today.",
        "metadata": {"title": "Road trip", "genre": "travel"},
    },
    {
        "video_id": "drive",
        "start": 10.0,
        "end": 20.0,
        "visual": "waves crash on a sandy beach at sunset",
        "transcription": "Here we are at the beach, finally.",
    },
    {
        "video_id": "concert",
        "start": 0.0,
        "end": 8.0,
        "audio": "grand piano music, applause",
        "metadata": {"title": "Concert night", "people": ["Ann Lee"], "year": 2024},
    },
    {
        "video_id": "concert",
        "start": 8.0,
        "end": 16.0,
        "visual": "a pianist bows on a dark stage under a spotlight",
        "audio": "cheering crowd, applause",
        "transcription": "Thank you all for coming tonight.",
    },
    {
        "video_id": "lecture",
        "start": 0.0,
        "end": 12.0,
        "visual": "a whiteboard full of equations",
        "transcription": "Today we discuss quarterly earnings and the balance sheet.",
        "metadata": {"title": "Finance 101", "channel": "open university"},
    },
    {
        "video_id": "lecture",
        "start": 12.0,
        "end": 24.0,
        "transcription": "Revenue grew while costs stayed flat over the quarter.",
    },
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STILLHOUSE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STILLHOUSE_S3_ROOT", str(tmp_path / "s3"))
    monkeypatch.delenv("STILLHOUSE_S3_BACKEND", raising=False)
    monkeypatch.delenv("STILLHOUSE_SEARCH_ROUTER", raising=False)
    return tmp_path / "home"


def write_segments(path: Path, rows: list) -> Path:
    """A JSONL file: dicts are dumped, strings written as they are (bad lines)."""
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.fixture
def segment_file(tmp_path: Path) -> Path:
    return write_segments(tmp_path / "segments.jsonl", SEGMENTS)


def tiny_router(folder: Path) -> Path:
    """A fast router on the hashing embedder, trained in milliseconds on one query per modality."""
    from stillhouse.router.fast_router import FastRouter, HeadConfig
    from stillhouse.router.trainer import fit, teacher_targets

    queries = [
        "grand piano applause music",
        "what did the lecturer say about earnings",
        "red car on a beach",
        "Ann Lee title",
    ]
    targets = teacher_targets(
        [[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]]
    )
    router = FastRouter.from_spec("hashing:64", head=HeadConfig(epochs=200, learning_rate=0.1))
    fit(router, queries, targets)
    return router.save(folder)
