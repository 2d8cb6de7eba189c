"""CLI: ``stillhouse demo`` — the main job on offline defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from stillhouse.cli.app import app
from stillhouse.models.manifest import REASONING_CHARS_MAX, REASONING_CHARS_MIN, StudentFormat
from stillhouse.recipes.video_router import DemoConfig

# One source of truth for the defaults: the library's config (stillhouse.recipes.video_router imports no torch).
_D = DemoConfig()


@app.command()
def demo(
    out: Path = typer.Option(_D.out, help="Folder for data, models, report and summary."),
    teacher: str = typer.Option(
        _D.teacher, help="Teacher model spec (catalog name, path, openai:, bedrock:)."
    ),
    student: str = typer.Option(_D.student, help="Student to fine-tune (catalog name or HF folder)."),
    train_queries: int = typer.Option(
        _D.train_queries, help="Synthesized queries the teacher labels (golden pairs come on top)."
    ),
    router_queries: int = typer.Option(
        _D.router_queries, help="More synthesized queries for the fast router, weakly labelled by intent."
    ),
    verify: bool = typer.Option(
        _D.verify, help="Drop teacher answers that contradict their query's design intent."
    ),
    steer: bool = typer.Option(
        _D.steer, help="Show the teacher golden examples of each query's likely modality."
    ),
    heldout: int = typer.Option(_D.heldout, help="Hand-labelled held-out queries to evaluate on."),
    shots: int = typer.Option(
        _D.shots, help="Golden examples retrieved as few-shot turns per teacher request."
    ),
    anchored: int = typer.Option(
        _D.anchored,
        help="Of the shots, how many are the likely modality's fixed anchors (a shared, cached prefix).",
    ),
    samples: int = typer.Option(_D.samples, help="Teacher samples per prompt (self-consistency when > 1)."),
    epochs: int = typer.Option(
        int(_D.hyperparameters["epochCount"]), help="Student epochs (Bedrock epochCount, 1-5)."
    ),
    method: str = typer.Option(_D.method, help="Student fine-tuning: full or lora."),
    reasoning_chars: int | None = typer.Option(
        _D.student_format.reasoning_chars,
        min=REASONING_CHARS_MIN,
        max=REASONING_CHARS_MAX,
        help="Train the student on the teacher's reasoning shortened to at most this many characters "
        "(at a clause or word boundary), so it answers faster; default: as the teacher wrote it.",
    ),
    router_embedder: str = typer.Option(
        _D.router_embedder,
        help="Fast router encoder: minilm-gguf (llama.cpp), minilm (torch), hashing[:DIM].",
    ),
    search: bool = typer.Option(
        _D.search,
        help="End with the video search: the search demo's clips and queries, routed by the new routers.",
    ),
) -> None:
    """Distil the video search router end to end: synthesize queries, label them with the teacher
    (guided by golden examples), verify the answers against each query's design intent, train the generative student and the fast router, evaluate teacher /
    base / distilled students on the held-out set, and write report.html, results.json, summary.json;
    then ingest video clips and search them, routed by the fast router and the student just trained.

    A rerun reuses the teacher cache and the trained models under OUT.
    """
    from stillhouse.recipes.video_router import run_demo

    config = DemoConfig(
        out=out,
        teacher=teacher,
        student=student,
        train_queries=train_queries,
        router_queries=router_queries,
        verify=verify,
        steer=steer,
        heldout=heldout,
        shots=shots,
        anchored=anchored,
        samples=samples,
        method=method,  # type: ignore[arg-type]  # validated by DemoConfig
        student_format=StudentFormat(reasoning_chars=reasoning_chars),
        router_embedder=router_embedder,
        search=search,
    )
    config.hyperparameters["epochCount"] = str(epochs)
    run_demo(config, log=typer.echo)
