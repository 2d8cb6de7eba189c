"""CLI: `stillhouse validate` (registered on import)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from stillhouse.cli.app import app, emit_json


@app.command()
def validate(
    source: Annotated[str, typer.Argument(help="A .jsonl file, a folder of them, or an s3:// URI.")],
    profile: Annotated[
        Literal["distillation", "fine-tuning"], typer.Option(help="Which dataset rules and limits apply.")
    ] = "distillation",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Check bedrock-conversation-2024 records before any teacher call.

    Prints each problem as `line N: <field>: <reason>`, then a summary.

    Exit code 0: the dataset is usable as a whole; 1: it is not (too few valid or too many records).
    """
    from stillhouse.sources.dataset import read_dataset

    _, report = read_dataset(source, profile, "report", show_progress=True)
    if as_json:
        emit_json(report.to_json())
    else:
        for problem in report.invalid:
            typer.echo(str(problem))
        typer.echo(report.summary())
        if report.by_rule:
            counts = ", ".join(f"{rule} {n}" for rule, n in report.by_rule.items())
            typer.echo(f"invalid records by rule: {counts}")
    if not report.usable:
        raise typer.Exit(1)
