"""The search demo end to end on the short clips: each query finds the clip made to answer it, by
the channel it was made for (the 212 s packaged clip is left out here for time); a rerun routed by a
fast router and a generative one ingests nothing and records each query's routing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.search.conftest import tiny_router

from stillhouse import paths
from stillhouse.recipes.search_demo import (
    SENTENCE,
    STUDENT_QUERY,
    SearchDemoConfig,
    SearchDemoReport,
    packaged_clips,
    run_search_demo,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        any(shutil.which(p) is None for p in ("ffmpeg", "sox", "espeak-ng")),
        reason="needs ffmpeg, sox, espeak-ng",
    ),
]

Run = tuple[Path, SearchDemoReport, list[str]]


@pytest.fixture(scope="module")
def uniform_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """One ingest of the short clips and the queries with uniform weights, in a private home (the
    assembled models shared with the other tests); the routed rerun reuses its index."""
    root = tmp_path_factory.mktemp("search-demo")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STILLHOUSE_MODELS", str(paths.models_dir()))
        env.setenv("STILLHOUSE_HOME", str(root / "home"))
        env.delenv("STILLHOUSE_SEARCH_ROUTER", raising=False)
        lines: list[str] = []
        report = run_search_demo(SearchDemoConfig(out=root / "demo", long_clip=False), log=lines.append)
        yield root, report, lines


@pytest.mark.slow  # ~35-50 s on 2 cores (four models and MiniLM load): make test-all
def test_search_demo_finds_speech_text_sound_and_metadata(uniform_run: Run) -> None:
    _, report, lines = uniform_run
    by_channel = {q.channel: q for q in report.queries}
    assert report.passed, "\n".join(lines)
    spoken = by_channel["transcription"].top[0]
    assert spoken["start"] <= 1.0 and spoken["end"] >= 4.0  # the segment whose range holds the sentence
    said = spoken["evidence"]["transcription"].lower()
    assert sum(w in said for w in ("lighthouse", "keeper", "harbor", "harbour")) >= 2, said
    assert "QUARTERLY" in by_channel["visual"].top[0]["evidence"]["visual"]
    assert "Sine wave" in by_channel["audio"].top[0]["evidence"]["audio"]
    assert "Northwind" in by_channel["metadata"].top[0]["evidence"]["metadata"]
    outcomes = {Path(o["file"]).name: o for o in report.ingest["outcomes"]}
    assert outcomes["corrupt.mp4"]["status"] == "failed"
    assert any("no audio track" in n for n in outcomes["onscreen.mp4"]["notes"])
    assert {"bigbuckbunny.mp4", "bikes.mp4"} <= set(outcomes)
    assert any(SENTENCE.split()[1] in line.lower() for line in lines)  # the evidence line is printed


def test_packaged_clips_are_found_in_the_installed_packages() -> None:
    names = sorted(p.name for p in packaged_clips())
    assert names == ["bigbuckbunny.mp4", "bikes.mp4", "test.mp4"]
    assert all(p.is_file() for p in packaged_clips())


@pytest.mark.slow  # ~15-25 s more: the routers load and the student answers once
def test_a_rerun_routed_by_a_fast_router_and_a_student_ingests_nothing_and_records_each_query(
    uniform_run: Run,
) -> None:
    root, first, _ = uniform_run
    router = tiny_router(root / "fast-router")
    config = SearchDemoConfig(out=root / "demo", long_clip=False, router=str(router), student="smollm2-135m")
    lines: list[str] = []
    report = run_search_demo(config, log=lines.append)
    assert report.ingest["added"] == 0 and report.ingest["total"] == first.ingest["total"] > 0
    assert all(o["status"] != "ingested" for o in report.ingest["outcomes"])  # skipped (or failed)
    for outcome in report.queries:
        assert outcome.router is not None and outcome.route_ms > 0
        assert outcome.weights is not None and sum(outcome.weights.values()) == pytest.approx(1.0)
    assert len({tuple(q.weights.values()) for q in report.queries if q.weights}) > 1  # per query
    assert all(q.router is None and q.weights is None for q in first.queries)  # uniform: none asked
    student = report.student
    assert student is not None and student.query == STUDENT_QUERY.text
    assert student.router is not None and student.router != report.queries[0].router
    assert student.route_ms > 0 and student.weights is not None and student.top
    assert any(line.startswith("== the generative student") for line in lines)
    assert any(line.startswith(f"   routed by {student.router} in ") for line in lines)
    saved = (root / "demo" / "results.json").read_text(encoding="utf-8")
    assert SearchDemoReport.model_validate_json(saved) == report
