"""CLI: ``stillhouse search ingest`` (video files into an index) and ``stillhouse search demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import ActorsOption, ExecutorOption, emit_json, executor_spec
from stillhouse.cli.search import search_app


@search_app.command("ingest")
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Video files (mp4, mkv, webm, mov) or folders of them.")
    ],
    index: Annotated[str, typer.Option(help="Index name (a folder under $STILLHOUSE_HOME/search).")],
    whisper: Annotated[
        str, typer.Option(help="tiny.en (default), base (multilingual) or a folder.")
    ] = "tiny.en",
    scenes: Annotated[
        Literal["content", "transnetv2", "none"],
        typer.Option(help="Scene-cut detector the boundaries snap to."),
    ] = "content",
    vision: Annotated[
        str | None, typer.Option(help="Captioner for keyframes: openai-vision:BASE_URL#MODEL (none offline).")
    ] = None,
    no_ocr: Annotated[bool, typer.Option("--no-ocr", help="Do not read on-screen text.")] = False,
    embedder: Annotated[
        str | None, typer.Option(help="Text embedder of a new index (default minilm).")
    ] = None,
    executor: ExecutorOption = "local",
    actors: ActorsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
) -> None:
    """Cut videos into scene-snapped segments, transcribe, tag sounds, read on-screen text and
    index them; a rerun skips what is done. Exit code 1 when any file failed (the rest are indexed).
    On Ray each video is analysed in an actor (the files must be readable there at the same path);
    this process embeds and writes the index."""
    from stillhouse.executors import open_executor
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.video.config import VideoIngestConfig
    from stillhouse.search.video.pipeline import ingest_videos

    where = executor_spec(executor, actors)
    config = VideoIngestConfig(whisper=whisper, scenes=scenes, vision=vision, ocr=not no_ocr)
    with open_executor(where) as runs_on:
        report = ingest_videos(
            index,
            paths,
            config,
            index=IngestConfig(embedder=embedder) if embedder else None,
            # Without a terminal too: an ingest runs for minutes, and the plain lines say how far it is.
            show_progress=not as_json,
            executor=runs_on,
        )
    if as_json:
        emit_json({**report.model_dump(mode="json"), "x_realtime": round(report.realtime(), 2)})
    else:
        for outcome in report.outcomes:
            typer.echo(str(outcome))
        typer.echo(
            f"{report.added} segments added to {index} v{report.version} ({report.total} in all), "
            f"{report.media_seconds:.0f} s of video at {report.realtime():.1f}x real time"
        )
    if report.failed:
        raise typer.Exit(1)


@search_app.command("demo")
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the made clips.")] = Path("runs/search-demo"),
    index: Annotated[str, typer.Option(help="Index the demo ingests into.")] = "demo-videos",
    router: Annotated[
        str | None, typer.Option(help="Router spec for the queries (default: uniform weights).")
    ] = None,
    student: Annotated[
        str | None,
        typer.Option(help="A generative router (runs/demo/models/student) shown routing one query."),
    ] = None,
    short: Annotated[bool, typer.Option("--short", help="Skip the 212 s packaged clip.")] = False,
) -> None:
    """Ingest packaged real clips and clips made with known speech, text and sounds, then query them
    (the report also goes to OUT/results.json)."""
    from stillhouse.recipes.search_demo import SearchDemoConfig, run_search_demo

    config = SearchDemoConfig(out=out, index=index, router=router, student=student, long_clip=not short)
    report = run_search_demo(config)
    missed = [q.query for q in report.queries if not q.found]
    typer.echo("all demo queries found their clip" if not missed else f"missed: {', '.join(missed)}")
    if missed:
        raise typer.Exit(1)
