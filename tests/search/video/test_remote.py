"""Search ingest on a remote executor: each video analysed whole where it is sent (everything
crossing a pickle, then in Ray actors), the driver writing the keyframes, index and ledger. The
index holds exactly the local run's segments, and the report says the same of every file."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest
from tests.executors.helpers import die_once
from tests.executors.test_seam import PickledRemote
from tests.search.video.test_pipeline import HASHING, clips, stored  # noqa: F401  (clips: a fixture)
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import InvalidInputError
from stillhouse.executors import open_executor, parse_executor
from stillhouse.search import config as cfg
from stillhouse.search.segments import Segment
from stillhouse.search.video import analyse as an
from stillhouse.search.video.pipeline import VideoIngestReport, ingest_videos

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _segments(name: str) -> list[dict]:
    """The index's segments, keyframes relative to the index folder, in key order."""
    out = []
    for s in stored(name):
        row = s.model_dump()
        if s.keyframe:
            row["keyframe"] = str(Path(s.keyframe).relative_to(cfg.index_dir(name)))
        out.append(row)
    return sorted(out, key=lambda r: (r["video_id"], r["start"]))


def _outcomes(report: VideoIngestReport) -> list[dict]:
    return [o.model_dump() for o in report.outcomes]


def _keyframes(name: str) -> dict[str, bytes]:
    folder = cfg.index_dir(name) / "keyframes"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _ledger(name: str) -> dict[str, tuple[str, str, int]]:
    videos = json.loads((cfg.index_dir(name) / "ingested.json").read_text())
    return {vid: (v["file"], v["config"], v["segments"]) for vid, v in videos.items()}


def _same_as_local(name: str, report: VideoIngestReport, local: VideoIngestReport) -> None:
    assert _segments(name) == _segments("local")
    assert _outcomes(report) == _outcomes(local)
    assert (report.added, report.total) == (local.added, local.total)
    assert report.media_seconds == pytest.approx(local.media_seconds)
    assert _keyframes(name) == _keyframes("local") and _keyframes(name)
    assert _ledger(name) == _ledger("local")


def test_a_pickled_remote_ingest_writes_the_local_index_and_report(clips: Path, home: Path) -> None:  # noqa: F811
    local = ingest_videos("local", [clips], index=HASHING)
    remote = PickledRemote()
    report = ingest_videos("remote", [clips], index=HASHING, executor=remote)
    _same_as_local("remote", report, local)
    # Only the readable videos are sent (the corrupt one fails its probe here), each as its path.
    assert sorted(Path(p).name for p in remote.sent) == ["silent.mp4", "tone.mkv"]
    assert {"decode", "audio events", "index write"} <= set(report.stage_seconds)
    again = PickledRemote()
    rerun = ingest_videos("remote", [clips], index=HASHING, executor=again)
    assert again.sent == [] and rerun.added == 0  # the ledger is the driver's: resume is unchanged


def test_a_video_that_fails_in_the_worker_is_reported_as_locally_after_its_first_segments(
    clips: Path,  # noqa: F811
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    analyse = an.analyse

    def failing(path: Path, context: an.Context, emit=lambda segments: None) -> an.Analysis:
        if path.name != "silent.mp4":
            return analyse(path, context, emit)
        emit([Segment(video_id="silent", start=0.0, end=12.0, visual="red")])
        raise RuntimeError("decoder lost its way")

    monkeypatch.setattr(an, "analyse", failing)
    files = [clips / "silent.mp4", clips / "tone.mkv"]
    local = ingest_videos("local", files, index=HASHING)
    report = ingest_videos("remote", files, index=HASHING, executor=PickledRemote())
    silent = next(o for o in report.outcomes if o.file.endswith("silent.mp4"))
    assert silent.status == "failed"
    assert silent.reason == "decoder lost its way (1 segments before it were written)"
    assert _outcomes(report) == _outcomes(local) and _segments("remote") == _segments("local")
    assert set(_ledger("remote")) == {"beep"}


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray")
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


def test_ingest_on_ray_with_two_actors_equals_the_local_run(cluster, clips: Path, home: Path) -> None:  # noqa: F811
    local = ingest_videos("local", [clips], index=HASHING)
    with open_executor(parse_executor("ray", actors=2)) as executor:
        report = ingest_videos("ray", [clips], index=HASHING, executor=executor)
        assert executor.info.workers == {"ingest": 2}
    _same_as_local("ray", report, local)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--executor", "spark"], "unknown executor"),
        (["--executor", "ray://head"], "malformed Ray address"),
        (["--actors", "2"], "actors apply to a Ray executor"),
    ],
)
def test_cli_ingest_refuses_a_bad_executor_before_touching_the_index(
    clips: Path,  # noqa: F811
    home: Path,
    options: list[str],
    message: str,
) -> None:
    result = CliRunner().invoke(
        app, ["search", "ingest", str(clips), "--index", "bad", "--embedder", "hashing", *options]
    )
    assert isinstance(result.exception, InvalidInputError) and message in str(result.exception)
    assert not cfg.index_dir("bad").exists()


def test_cli_ingest_on_ray_writes_the_local_runs_segments(cluster, clips: Path, home: Path) -> None:  # noqa: F811
    ingest_videos("local", [clips], index=HASHING)
    args = ["search", "ingest", str(clips), "--index", "cli", "--embedder", "hashing", "--json"]
    result = CliRunner().invoke(app, [*args, "--executor", "ray", "--actors", "2"])
    assert result.exit_code == 1  # the corrupt file failed; the rest are indexed
    report = json.loads(result.stdout)
    assert [o["status"] for o in report["outcomes"]] == ["failed", "ingested", "ingested"]
    assert _segments("cli") == _segments("local")


class _DyingFirst:
    """The Ray executor, its stage's remote call wrapped so the first video kills its actor."""

    def __init__(self, executor, marker: Path) -> None:
        self.executor, self.marker, self.info = executor, marker, executor.info

    def map(self, stage, items):
        return self.executor.map(replace(stage, remote=partial(die_once, self.marker, stage.remote)), items)


def test_a_video_whose_actor_dies_is_analysed_again_by_a_fresh_one(cluster, clips: Path, home: Path) -> None:  # noqa: F811
    local = ingest_videos("local", [clips], index=HASHING)
    marker = home / "died"
    with open_executor(parse_executor("ray", actors=2)) as executor:
        report = ingest_videos("ray", [clips], index=HASHING, executor=_DyingFirst(executor, marker))
    assert marker.exists()  # an actor did die
    _same_as_local("ray", report, local)
