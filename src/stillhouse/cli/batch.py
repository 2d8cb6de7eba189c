"""CLI: `stillhouse batch` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import ActorsOption, ExecutorOption, RateOption, app, emit_json, executor_spec


@app.command()
def batch(
    file: Annotated[Path, typer.Argument(help="A JSONL file of recordId/modelInput lines.")],
    model: Annotated[
        str, typer.Option(help="Model spec (catalog name, .gguf, folder, hf:, openai:, bedrock:).")
    ],
    out: Annotated[Path, typer.Option(help="Where the output lines go (Bedrock's .out format).")],
    invocation_type: Annotated[
        Literal["InvokeModel", "Converse"] | None,
        typer.Option(
            help="What modelInput is: a native InvokeModel body or a Converse body (default: either)."
        ),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="Request cache file (default: the teacher cache).")
    ] = None,
    executor: ExecutorOption = "local",
    actors: ActorsOption = None,
    rate: RateOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Run batch inference over a local file, as a CreateModelInvocationJob would.

    Each line of OUT holds the record's recordId, modelInput and modelOutput, or an error for a
    record that failed; answers are cached, so a rerun asks the model only for what is missing.
    """
    from stillhouse.batch.run import BatchFile, batch_file

    where = executor_spec(executor, actors, rate)
    counts = batch_file(
        BatchFile(file, model, out, cache=cache, invocation_type=invocation_type, executor=where)
    )
    if as_json:
        emit_json(counts.model_dump())
    else:
        typer.echo(
            f"{counts.successRecordCount}/{counts.totalRecordCount} records answered, "
            f"{counts.errorRecordCount} failed -> {out}"
        )
