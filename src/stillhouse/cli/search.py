"""CLI: `stillhouse search add-segments | rebuild | query | info` (registered on import)."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import app, emit_json
from stillhouse.search.fusion import MIN_WEIGHT

search_app = typer.Typer(help="The multimodal video search engine over segments.", no_args_is_help=True)
app.add_typer(search_app, name="search")

_INDEX = typer.Option(help="Index name (a folder under $STILLHOUSE_HOME/search).")
DEFAULT_LOG_URI = "s3://stillhouse-logs/invocation-logs"


@search_app.command("add-segments")
def add_segments(
    source: Annotated[str, typer.Argument(help="Segments as JSON lines: a file, a folder of them or s3://.")],
    index: Annotated[str, _INDEX],
    embedder: Annotated[
        str | None,
        typer.Option(help="Text embedder of a new index: minilm (default), minilm-gguf, hashing[:DIM]."),
    ] = None,
    image_embedder: Annotated[
        str | None,
        typer.Option(help="Local CLIP/SigLIP folder of a new index: keyframes get image vectors."),
    ] = None,
    engine: Annotated[
        Literal["lancedb", "milvus"] | None, typer.Option(help="Engine of a new index (default lancedb).")
    ] = None,
    uri: Annotated[str | None, typer.Option(help="Milvus server URI or milvus-lite .db path.")] = None,
    visual_keywords: Annotated[
        str | None,
        typer.Option(help="A vision model spec that labels each keyframe (image-keywords) as visual text."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Index segments; each bad line is reported as `line N: field: reason` and the good ones are kept.

    Exit code 1 when any line was bad (the good ones are indexed all the same).
    """
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.ingest import add_segments as run

    chosen = {"embedder": embedder, "image_embedder": image_embedder}
    given = {key: value for key, value in chosen.items() if value}
    ingest = IngestConfig(**given) if given else None
    report = run(
        index,
        source,
        ingest=ingest,
        engine=engine,
        uri=uri,
        show_progress=not as_json and sys.stderr.isatty(),
        visual_keywords=visual_keywords,
    )
    if as_json:
        emit_json({**report.model_dump(mode="json"), "segments_per_second": round(report.per_second, 1)})
    else:
        for problem in report.problems:
            typer.echo(str(problem))
        typer.echo(
            f"{report.added} segments added to {index} v{report.version} ({report.total} in all), "
            f"{len(report.problems)} bad lines, {report.per_second:.0f} segments/s"
        )
    if report.problems:
        raise typer.Exit(1)


@search_app.command()
def rebuild(
    index: Annotated[str, _INDEX],
    embedder: Annotated[str, typer.Option(help="Text embedder of the new version.")] = "minilm",
    image_embedder: Annotated[
        str | None, typer.Option(help="Local CLIP/SigLIP folder: the new version embeds keyframes.")
    ] = None,
    vector_index_min_rows: Annotated[
        int | None,
        typer.Option(help="Rows from which LanceDB builds IVF_FLAT vector indexes (default 20,000)."),
    ] = None,
) -> None:
    """Build a new version of an index under another configuration (the old version stays)."""
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.ingest import rebuild as run

    given = {"vector_index_min_rows": vector_index_min_rows} if vector_index_min_rows is not None else {}
    ingest = IngestConfig(embedder=embedder, image_embedder=image_embedder, **given)
    report = run(index, ingest, show_progress=sys.stderr.isatty())
    typer.echo(f"{index} v{report.version}: {report.total} segments ({report.per_second:.0f}/s)")


@search_app.command()
def query(
    text: Annotated[str, typer.Argument(help="The search query.")],
    index: Annotated[str, _INDEX],
    k: Annotated[int, typer.Option("--k", help="Results to return.")] = 10,
    fusion: Annotated[
        Literal["routed", "rrf", "uniform", "combined"], typer.Option(help="Fusion strategy.")
    ] = "routed",
    weights: Annotated[str | None, typer.Option(help="Fixed weights V,A,T,M instead of a router.")] = None,
    router: Annotated[
        str | None,
        typer.Option(
            help="Router: a fast-router folder, any model spec, or route-head:SPEC for a student's "
            "weights-only route head (default: the fast router)."
        ),
    ] = None,
    version: Annotated[int | None, typer.Option(help="Index version (default: the current one).")] = None,
    merge_gap: Annotated[
        float | None, typer.Option(help="Merge results of one video closer than this many seconds.")
    ] = None,
    min_weight: Annotated[
        float,
        typer.Option(help="Modalities the router weights under this are not searched (0: all four)."),
    ] = MIN_WEIGHT,
    log_uri: Annotated[
        str, typer.Option(help="Invocation log for routing calls (s3:// in the object store).")
    ] = DEFAULT_LOG_URI,
    no_log: Annotated[bool, typer.Option("--no-log", help="Do not log the routing call.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result object.")] = False,
) -> None:
    """Route the query, search every modality (vector and BM25), fuse, print the segments."""
    from stillhouse.search.engine import SearchRequest
    from stillhouse.serve.search_api import search_and_log

    request = SearchRequest(
        query=text,
        index=index,
        k=k,
        fusion=fusion,
        weights=weights,
        router=router,
        version=version,
        merge_gap=merge_gap,
        min_weight=min_weight,
    )
    out = search_and_log(request, log_uri=None if no_log else log_uri)
    if as_json:
        emit_json(out.model_dump(mode="json"))
        return
    if out.weights:
        typer.echo(f"weights ({out.router}): " + ", ".join(f"{m} {w:.2f}" for m, w in out.weights.items()))
    for n, r in enumerate(out.results, start=1):
        typer.echo(f"{n:>2}. {r.score:.3f}  {r.video_id}  {r.start:.1f}-{r.end:.1f}s")
        for modality, piece in r.evidence.items():
            typer.echo(f"      {modality}: {piece}")
    t = out.timings_ms
    typer.echo(f"route {t.route:.1f} ms, retrieve {t.retrieve:.1f} ms, total {t.total:.1f} ms")


@search_app.command()
def info(index: Annotated[str, _INDEX]) -> None:
    """Print an index's manifest: engine, location and versions with their configuration."""
    from stillhouse.search.config import require_manifest

    emit_json(require_manifest(index).model_dump(mode="json"))
