"""CLI: `stillhouse generate-queries`, `verify-labels` and `plot-weights` (registered on import)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from stillhouse.cli.app import app, emit_json


@app.command("generate-queries")
def generate_queries(
    n: Annotated[int, typer.Option("--n", help="How many distinct queries to write.")] = 10_000,
    out: Annotated[
        Path, typer.Option("--out", help="The JSONL file of prompt-only records to write.")
    ] = Path("queries.jsonl"),
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 0,
    edge_rate: Annotated[float, typer.Option(help="Share of queries given an edge-case transform.")] = 0.3,
    include_eval: Annotated[
        bool, typer.Option(help="Allow queries that also appear in the packaged golden and dev sets.")
    ] = False,
    intents: Annotated[
        Path | None,
        typer.Option(help="Also write each query's design intent here (JSONL), for verify-labels."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Synthesize video-router search queries as prompt-only bedrock-conversation-2024 records.

    Balanced across visual, audio, transcription, metadata and mixed intents; three difficulty levels.

    Edge cases: typos, one-word, very long, and Spanish, French, German and Japanese queries.

    Deduplicated, also against the packaged golden and dev sets unless --include-eval.
    """
    from collections import Counter

    from stillhouse.progress import track
    from stillhouse.records.jsonl import write_records
    from stillhouse.records.rules import PROFILES
    from stillhouse.tasks.video_router.golden import load_dev, load_golden
    from stillhouse.tasks.video_router.synth import SynthConfig, iter_synthesize, to_records

    cap = PROFILES["distillation"].max_records
    if n > cap:
        typer.secho(
            f"warning: --n {n} is above the {cap:,} records a distillation job accepts; "
            "split the file or pass fewer",
            fg=typer.colors.YELLOW,
            err=True,
        )
    started = time.perf_counter()
    exclude = [] if include_eval else [r.messages[0].text for r in load_golden() + load_dev()]
    drawn = iter_synthesize(SynthConfig(n=n, seed=seed, edge_rate=edge_rate), exclude=exclude)
    queries = list(track(drawn, "synthesizing queries", n))
    written = write_records(out, to_records(queries))
    if intents is not None:
        from stillhouse.router.intents import write_intents

        write_intents(intents, queries)
    summary = {
        "out": str(out),
        "queries": written,
        "seed": seed,
        "seconds": round(time.perf_counter() - started, 3),
        "by_intent": dict(Counter(q.intent for q in queries)),
        "by_difficulty": dict(Counter(q.difficulty for q in queries)),
        "by_edge_case": dict(Counter(q.edge_case or "none" for q in queries)),
    }
    if as_json:
        emit_json(summary)
        return
    typer.echo(f"wrote {written} queries to {out} in {summary['seconds']} s")
    for key in ("by_intent", "by_difficulty", "by_edge_case"):
        typer.echo(f"  {key.removeprefix('by_')}: " + ", ".join(f"{k} {v}" for k, v in summary[key].items()))


@app.command("verify-labels")
def verify_labels(
    source: Annotated[
        Path, typer.Argument(help="Labelled video-router records (JSONL) from `stillhouse label`.")
    ],
    intents: Annotated[Path, typer.Option(help="The intents file `generate-queries --intents` wrote.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the records that pass.")],
    rejected: Annotated[
        Path | None, typer.Option(help="Where to write the rejected answers (default: <out>.rejected.jsonl).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Drop teacher answers whose dominant modality contradicts the query's design intent.

    Only single-modality intents are checked; mixed queries, golden pairs and queries the intents
    file does not know pass unchanged. The rejected answers are written beside the output.
    """
    from stillhouse.router.intents import verify_label_file

    rejected = rejected or out.with_name(out.name + ".rejected.jsonl")
    outcome = verify_label_file(source, intents, out, rejected)
    summary = {"out": str(out), "rejected_to": str(rejected), **outcome.counts()}
    if as_json:
        emit_json(summary)
        return
    typer.echo(
        f"kept {outcome.counts()['kept']} records in {out}; rejected {outcome.counts()['rejected']} of "
        f"{outcome.checked} checked answers ({rejected})"
    )


@app.command("plot-weights")
def plot_weights(
    source: Annotated[Path, typer.Argument(help="A JSONL file of labelled video-router records.")],
    out: Annotated[Path, typer.Option("--out", help="The PNG file to write.")] = Path("weights.png"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Plot the modality weight distribution of a labelled video-router set (histograms, box plot)."""
    from stillhouse.router.figures import plot_weight_distribution, weights_from_records
    from stillhouse.sources.dataset import read_dataset

    records, read = read_dataset(source, "none", "skip")
    weights, unreadable = weights_from_records(records)
    path = plot_weight_distribution(weights, out, title=source.name)
    summary = {
        "out": str(path),
        "answers": len(weights),
        "unreadable_answers": unreadable,
        "unlabelled_records": sum(r.answer is None for r in records),
        "invalid_lines": read.invalid_records,
    }
    if as_json:
        emit_json(summary)
    else:
        typer.echo(
            f"plotted {len(weights)} answers to {path}; skipped: "
            + ", ".join(
                f"{k.replace('_', ' ')} {summary[k]}"
                for k in ("unreadable_answers", "unlabelled_records", "invalid_lines")
            )
        )
