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
    student: Annotated[
        str | None,
        typer.Option(
            help="The student the data is for (a Bedrock id): Anthropic and Llama take single-turn only."
        ),
    ] = None,
    invocation_logs: Annotated[
        bool,
        typer.Option(
            help="SOURCE holds invocation logs (gzipped JSON lines): check them as a job reads them."
        ),
    ] = False,
    use_prompt_response: Annotated[
        bool, typer.Option(help="With --invocation-logs: keep the logged answers (usePromptResponse).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Check bedrock-conversation-2024 records (or invocation logs) before any teacher call.

    Prints each problem as `line N: <field>: <reason>`, then a summary.

    Exit code 0: the dataset is usable as a whole; 1: it is not (too few valid or too many records).
    """
    from stillhouse.records.validate import get_profile

    limits = get_profile(profile).for_student(student)  # type: ignore[union-attr]
    if invocation_logs:
        from stillhouse.sources.log_check import check_invocation_logs

        checked = check_invocation_logs(source, limits, use_prompt_response=use_prompt_response)
        report, logs = checked.records, checked.logs
    else:
        from stillhouse.sources.dataset import read_dataset

        _, report = read_dataset(source, limits, "report", show_progress=True)
        logs = None
    if as_json:
        emit_json({**report.to_json(), **({"logs": logs.model_dump(mode="json")} if logs else {})})
    else:
        for problem in logs.problems if logs else []:
            typer.echo(f"{problem.file}: line {problem.line}: {problem.reason}")
        for problem in report.invalid:
            typer.echo(str(problem))
        if logs:
            typer.echo(logs.summary())
        typer.echo(report.summary())
        if report.by_rule:
            counts = ", ".join(f"{rule} {n}" for rule, n in report.by_rule.items())
            typer.echo(f"invalid records by rule: {counts}")
    if not report.usable:
        raise typer.Exit(1)
