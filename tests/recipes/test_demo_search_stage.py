"""The main job's last stage: the search demo, routed by the routers the job has just distilled."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stillhouse.errors import MissingDependencyError
from stillhouse.recipes import search_demo
from stillhouse.recipes.search_demo import QueryOutcome, SearchDemoConfig, SearchDemoReport
from stillhouse.recipes.video_router import DemoConfig, Layout, run_demo, search_videos


def test_search_stage_routes_the_search_demo_with_the_distilled_routers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[SearchDemoConfig] = []

    def run(config: SearchDemoConfig, log):  # type: ignore[no-untyped-def]
        seen.append(config)
        log("the search demo's table")
        return SearchDemoReport(ingest={}, queries=[])

    monkeypatch.setattr(search_demo, "run_search_demo", run)
    layout = Layout(root=tmp_path / "demo")
    lines: list[str] = []
    report = search_videos(layout, lines.append)
    (config,) = seen
    assert config.router == str(layout.fast_router) and config.student == str(layout.student)
    assert config.out == layout.search == tmp_path / "demo" / "search"
    assert config.index == SearchDemoConfig().index  # the shared index: a rerun ingests nothing twice
    assert config.long_clip  # the main job shows every clip
    assert lines == ["the search demo's table"] and isinstance(report, SearchDemoReport)


def _outcome(query: str, top: list[dict], **routing: object) -> QueryOutcome:
    return QueryOutcome(
        query=query, expect_video="spoken", channel="audio", found=bool(top), top=top, **routing
    )


def _hit(video: str, evidence: dict[str, str]) -> dict:
    return {"video_id": video, "start": 0.0, "end": 8.0, "score": 0.72, "evidence": evidence, "segment_id": 3}


def test_the_summary_keeps_each_query_top_segment_and_its_evidence() -> None:
    routed = _outcome(
        "a beep",
        [_hit("tone", {"audio": "Sine wave"}), _hit("noise", {"audio": "White noise"})],
        router="fast-router",
        weights={"visual": 0.1, "audio": 0.7, "transcription": 0.1, "metadata": 0.1},
        route_ms=6.4321,
    )
    ingest = {
        "index": "demo-videos",
        "version": 1,
        "added": 27,
        "total": 27,
        "media_seconds": 253.4,
        "seconds": 84.0,
        "outcomes": [
            {"file": "/x/corrupt.mp4", "status": "failed"},
            {"file": "/x/tone.mp4", "status": "ingested"},
        ],
    }
    missed = _outcome("nothing", [])
    summary = SearchDemoReport(ingest=ingest, queries=[routed, missed], student=routed).summary()
    assert summary["ingest"] == {
        "index": "demo-videos",
        "version": 1,
        "added": 27,
        "total": 27,
        "media_seconds": 253.4,
        "seconds": 84.0,
        "failed": ["/x/corrupt.mp4"],
    }
    assert summary["passed"] is False  # one query missed
    first, empty = summary["queries"]
    assert first == {
        "query": "a beep",
        "found": True,
        "router": "fast-router",
        "weights": {"visual": 0.1, "audio": 0.7, "transcription": 0.1, "metadata": 0.1},
        "route_ms": 6.43,
        "top": {"video_id": "tone", "start": 0.0, "end": 8.0, "score": 0.72},
        "evidence": {"audio": "Sine wave"},
    }
    assert empty["top"] is None and empty["evidence"] is None and empty["router"] is None
    assert summary["student"] == first
    assert SearchDemoReport(ingest=ingest, queries=[]).summary()["student"] is None


def test_a_missing_program_stops_the_main_job_before_its_first_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name: None if name in ("sox", "espeak-ng") else real(name))
    with pytest.raises(MissingDependencyError, match=r"needs sox, espeak-ng .*--no-search"):
        run_demo(DemoConfig(out=tmp_path / "demo"), log=lambda _: None)
    assert not (tmp_path / "demo").exists()  # no stage ran
