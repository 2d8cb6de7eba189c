"""CLI: ``stillhouse demo`` — the main job on offline defaults."""

from __future__ import annotations

from pathlib import Path

import typer

from stillhouse.cli.app import app


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Folder for data, models, report and summary."),
    teacher: str = typer.Option(
        "qwen2.5-coder-1.5b", help="Teacher model spec (catalog name, path, openai:, bedrock:)."
    ),
    student: str = typer.Option("smollm2-135m", help="Student to fine-tune (catalog name or HF folder)."),
    train_queries: int = typer.Option(
        120, help="Synthesized queries the teacher labels (golden pairs come on top)."
    ),
    heldout: int = typer.Option(100, help="Hand-labelled held-out queries to evaluate on."),
    shots: int = typer.Option(4, help="Golden examples retrieved as few-shot turns per teacher request."),
    samples: int = typer.Option(1, help="Teacher samples per prompt (self-consistency when > 1)."),
    epochs: int = typer.Option(2, help="Student epochs (Bedrock epochCount, 1-5)."),
) -> None:
    """Distil the video search router end to end: synthesize queries, label them with the teacher
    (guided by golden examples), train the generative student and the fast router, evaluate teacher /
    base / distilled students on the held-out set, and write report.html, results.json, summary.json.

    A rerun reuses the teacher cache and the trained models under OUT.
    """
    from stillhouse.demo import DemoConfig, run_demo

    config = DemoConfig(
        out=out,
        teacher=teacher,
        student=student,
        train_queries=train_queries,
        heldout=heldout,
        shots=shots,
        samples=samples,
    )
    config.hyperparameters["epochCount"] = str(epochs)
    run_demo(config, log=typer.echo)
