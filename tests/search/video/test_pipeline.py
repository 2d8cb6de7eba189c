"""Ingest of real files: a corrupt file and a silent video are reported and never stop the rest;
a rerun skips what is done; a killed ingest resumes without duplicating segments."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.search import config as cfg
from stillhouse.search.config import IngestConfig
from stillhouse.search.ingest import segment_from_row, store_for
from stillhouse.search.segments import segment_key
from stillhouse.search.video import pipeline
from stillhouse.search.video.pipeline import ingest_videos

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("ffmpeg") is None or shutil.which("sox") is None, reason="needs ffmpeg, sox"
    ),
]
HASHING = IngestConfig(embedder="hashing")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 22 s silent video with a cut at 12 s, a 6 s tone, a corrupt file and a text file."""
    folder = tmp_path_factory.mktemp("clips")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=160x90:r=10:d=12", "-f", "lavfi", "-i",
           "color=c=blue:s=160x90:r=10:d=10", "-filter_complex", "[0][1]concat=n=2:v=1", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(folder / "silent.mp4"))  # fmt: skip
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(folder / "tone.wav"), "synth", "6",
                    "sine", "1000", "vol", "0.5"], check=True)  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "color=c=green:s=160x90:r=10:d=6", "-i", str(folder / "tone.wav"), "-c:v",
           "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(folder / "tone.mkv"))  # fmt: skip
    (folder / "tone.wav").unlink()
    (folder / "tone.json").write_text(json.dumps({"video_id": "beep", "channel": "Tones Inc", "year": 2021}))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    (folder / "notes.txt").write_text("not a video")
    return folder


def stored(name: str) -> list:
    manifest = cfg.require_manifest(name)
    store = store_for(manifest, manifest.current().config)
    return [segment_from_row(r) for r in store.scan(manifest.current().table)]


def test_a_folder_ingests_its_videos_and_reports_the_bad_and_the_silent(clips: Path, home: Path) -> None:
    report = ingest_videos("vids", [clips, clips / "missing.mp4"], index=HASHING)
    by_file = {Path(o.file).name: o for o in report.outcomes}
    assert by_file["broken.mp4"].status == "failed" and "unreadable" in (by_file["broken.mp4"].reason or "")
    assert (
        by_file["missing.mp4"].status == "skipped"
        and by_file["missing.mp4"].reason == "no such file or folder"
    )
    assert "notes.txt" not in by_file  # a folder's other files are not videos to report
    silent = by_file["silent.mp4"]
    assert silent.status == "ingested" and "no audio track" in " ".join(silent.notes)
    assert by_file["tone.mkv"].status == "ingested" and by_file["tone.mkv"].video_id == "beep"
    segments = stored("vids")
    spans = sorted((s.video_id, s.start, s.end) for s in segments)
    assert spans == [
        ("beep", 0.0, pytest.approx(6.0, abs=0.1)),
        ("silent", 0.0, 12.0),
        ("silent", 12.0, 22.0),
    ]
    beep = next(s for s in segments if s.video_id == "beep")
    assert beep.audio and "Sine wave" in beep.audio
    assert beep.metadata and beep.metadata["channel"] == "Tones Inc" and beep.metadata["year"] == 2021
    for s in segments:  # a keyframe and its thumbnail beside it under the index folder
        assert (
            s.keyframe and Path(s.keyframe).is_file() and Path(s.keyframe).with_suffix(".thumb.jpg").is_file()
        )
        assert Path(s.keyframe).is_relative_to(cfg.index_dir("vids"))
    assert report.total == 3 and report.media_seconds > 27
    assert {"decode", "scenes", "audio events", "index write"} <= set(report.stage_seconds)

    again = ingest_videos("vids", [clips], index=HASHING)
    assert again.added == 0 and again.total == 3
    reasons = {Path(o.file).name: o.reason for o in again.outcomes if o.status == "skipped"}
    assert set(reasons) == {"silent.mp4", "tone.mkv"} and "already ingested" in reasons["tone.mkv"]


def test_a_killed_ingest_resumes_without_duplicates(
    clips: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_done = pipeline.Ledger.done

    def killed(self: pipeline.Ledger, *args: object) -> None:
        raise KeyboardInterrupt  # after the first video's rows are written, before it is recorded

    monkeypatch.setattr(pipeline.Ledger, "done", killed)
    files = [clips / "silent.mp4", clips / "tone.mkv"]
    with pytest.raises(KeyboardInterrupt):
        ingest_videos("resume", files, index=HASHING)
    assert len(stored("resume")) == 2  # silent's two segments made it in

    monkeypatch.setattr(pipeline.Ledger, "done", real_done)
    report = ingest_videos("resume", files, index=HASHING)
    keys = [segment_key(s) for s in stored("resume")]
    assert len(keys) == len(set(keys)) == 3
    silent = next(o for o in report.outcomes if o.file.endswith("silent.mp4"))
    assert silent.status == "ingested" and "2 segments were already stored (resumed)" in silent.notes
    assert report.added == 1


def test_another_configuration_of_an_ingested_video_replaces_its_segments_in_a_new_version(
    clips: Path, home: Path
) -> None:
    from stillhouse.search.video.config import SegmentPolicy, VideoIngestConfig

    files = [clips / "silent.mp4", clips / "tone.mkv"]
    ingest_videos("cfgs", files, index=HASHING)
    shorter = VideoIngestConfig(ocr=False, segments=SegmentPolicy(min_s=3, target_s=5, max_s=8))
    report = ingest_videos("cfgs", [clips / "silent.mp4"], shorter, index=HASHING)
    (outcome,) = report.outcomes
    assert outcome.status == "ingested" and report.version == 2 and report.replaced == 2
    assert "version 2 replaces its segments (version 1 keeps them)" in " ".join(outcome.notes)
    manifest = cfg.require_manifest("cfgs")
    assert [v.version for v in manifest.versions] == [1, 2] and manifest.current().config == HASHING
    spans = sorted((s.video_id, s.start, s.end) for s in stored("cfgs"))
    assert spans == [
        ("beep", 0.0, pytest.approx(6.0, abs=0.1)),  # the other video, carried over
        ("silent", 0.0, 5.0),
        ("silent", 5.0, 12.0),
        ("silent", 12.0, 17.0),
        ("silent", 17.0, 22.0),
    ]
    old = store_for(manifest, HASHING).scan(manifest.get(1).table)
    assert sorted(segment_from_row(r).start for r in old if "silent" in r["info"]) == [0.0, 12.0]
    ledger = json.loads((cfg.index_dir("cfgs") / pipeline.LEDGER).read_text())
    assert ledger["silent"]["config"] == shorter.fingerprint() and ledger["silent"]["segments"] == 4

    again = ingest_videos("cfgs", files, shorter, index=HASHING)
    assert again.version == 3 and again.added == 1 and again.replaced == 1  # beep, ingested as before
    assert [o.status for o in again.outcomes] == ["skipped", "ingested"]
    assert "already ingested" in (again.outcomes[0].reason or "")
    assert len(stored("cfgs")) == 5


def test_cli_ingest_prints_each_file_and_exits_1_when_one_failed(clips: Path, home: Path) -> None:
    result = CliRunner().invoke(
        app, ["search", "ingest", str(clips), "--index", "cli", "--embedder", "hashing"]
    )
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "broken.mp4" in result.output
    assert "3 segments added to cli v1" in result.output


def test_a_configured_vision_model_captions_each_keyframe(
    clips: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stillhouse.search.video import vision
    from stillhouse.search.video.config import VideoIngestConfig

    seen: list[tuple[int, ...]] = []

    class Fake:
        def caption(self, image_rgb: object) -> str:
            seen.append(image_rgb.shape)  # type: ignore[attr-defined]
            return "a flat red field" if image_rgb[0, 0, 0] > 128 else "a flat blue field"  # type: ignore[index]

    monkeypatch.setattr(vision, "load_captioner", lambda spec: Fake())
    config = VideoIngestConfig(vision="openai-vision:http://127.0.0.1:9/v1#any", ocr=False)
    ingest_videos("captions", [clips / "silent.mp4"], config, index=HASHING)
    visual = [s.visual for s in sorted(stored("captions"), key=lambda s: s.start)]
    assert visual == ["a flat red field", "a flat blue field"]
    assert seen == [(90, 160, 3)] * 2  # keyframes at their own size (narrower than keyframe_width)


@pytest.mark.slow  # the 212 s packaged clip is analysed twice in subprocesses (~1 min under load)
def test_an_ingest_killed_with_sigkill_resumes_without_duplicates(clips: Path, home: Path) -> None:
    import os
    import signal
    import sys
    import time

    from stillhouse.recipes.search_demo import packaged_clips

    long = next(p for p in packaged_clips() if p.name == "test.mp4")
    command = [sys.executable, "-c", "from stillhouse.cli import main; main()", "search", "ingest",
               str(clips / "silent.mp4"), str(long), "--index", "killed", "--embedder", "hashing"]  # fmt: skip
    env = {**os.environ, "STILLHOUSE_HOME": str(home)}
    ledger = cfg.index_dir("killed") / pipeline.LEDGER
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not ledger.is_file() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.1)
    assert child.poll() is None, "the ingest ended before it could be killed"
    os.kill(child.pid, signal.SIGKILL)  # mid-way through the long clip, the lock held
    child.wait()
    assert list(json.loads(ledger.read_text())) == ["silent"]

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "skipped" in again.stdout and "already ingested" in again.stdout
    keys = [segment_key(s) for s in stored("killed")]
    assert len(keys) == len(set(keys)) and sum(k.startswith("test@") for k in keys) >= 15
