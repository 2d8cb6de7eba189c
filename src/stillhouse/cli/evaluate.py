"""CLI: `stillhouse evaluate` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stillhouse.cli.app import app, emit_json


@app.command()
def evaluate(
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="Held-out bedrock-conversation-2024 JSONL (file, folder or s3:// URI) with reference answers.",
        ),
    ],
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            help="Model to evaluate: SPEC or LABEL=SPEC (catalog name, folder, llamacpp:, hf:, "
            "openai:, bedrock:, fast-router:DIR). Repeat to compare.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json and report.html.")],
    task: Annotated[
        str, typer.Option("--task", help="Task whose schema, parser and rubric apply.")
    ] = "video-router",
    judge: Annotated[
        str | None, typer.Option("--judge", help="Model spec of an LLM judge (off by default).")
    ] = None,
    rubric: Annotated[
        Path | None,
        typer.Option(
            "--rubric", help="Judge rubric JSON {name, instructions, ratingScale}; default: the task's."
        ),
    ] = None,
    prices: Annotated[
        Path | None, typer.Option("--prices", help="Price table JSON (default: the shipped one).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Evaluate only the first N records.")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=1, help="Answer length cap per query.")
    ] = 256,
    schema: Annotated[
        bool,
        typer.Option(
            "--schema/--no-schema", help="Decode under the task's JSON schema where the backend can."
        ),
    ] = True,
    training_dir: Annotated[
        list[Path] | None,
        typer.Option(
            "--training-dir", help="A training output folder whose loss curve joins the report. Repeatable."
        ),
    ] = None,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Untimed calls per model before measuring (lazy loads).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the per-model summary as JSON.")] = False,
) -> None:
    """Run models side by side on a held-out set and write results.json and an HTML report.

    Each model answers every record once (latency measured per query in that one run); answers are
    scored with the task's deterministic rubric and, with --judge, an LLM judge.
    """
    from stillhouse.evaluate import (
        Judge,
        builtin_rubric,
        default_params,
        evaluate_models,
        load_prices,
        load_rubric,
    )
    from stillhouse.evaluate.inputs import labelled_models
    from stillhouse.evaluate.report import write_report
    from stillhouse.evaluate.table import render_text, summary_table
    from stillhouse.models import load_model
    from stillhouse.outputs import check_output_dir, write_or_rescue
    from stillhouse.records.validate import require_records
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks import get_task

    check_output_dir(out, field="out")  # before any model runs, not after all of them
    the_task = get_task(task)
    specs = labelled_models(model)
    loss_curves = _loss_curves(training_dir or [])  # checked before any model runs
    records, read = read_dataset(data, "none", "skip", limit=limit)  # held-out: bad lines skipped, said
    require_records(read, field="data")
    problems = [str(p) for p in read.invalid]
    for problem in problems:
        typer.secho(f"skipped {problem}", fg=typer.colors.YELLOW, err=True)
    the_judge = None
    if judge:
        the_rubric = load_rubric(rubric) if rubric else builtin_rubric(the_task.name)
        the_judge = Judge(load_model(judge), the_rubric)
    models = {label: load_model(spec) for label, spec in specs.items()}
    results = evaluate_models(
        the_task,
        records,
        models,
        judge=the_judge,
        prices=load_prices(prices),
        params=default_params(the_task, max_tokens=max_tokens, constrained=schema),
        warmup=warmup,
    ).model_copy(update={"unreadable": problems})
    files = write_or_rescue(
        lambda: write_report(results, out, extra_figures=loss_curves),
        dump=lambda: results.model_dump_json(indent=2),
        name="results.json",
    )
    if as_json:
        emit_json(
            {
                "task": results.task,
                "records": results.n_records,
                "unreadable": results.unreadable,
                "skipped": results.skipped,
                "results": str(files.results_json),
                "report": str(files.report_html),
                "models": results.summary(),
            }
        )
        return
    title = f"{results.task}: {results.n_records} records, {len(results.skipped)} skipped"
    typer.echo(render_text(summary_table(results), title))
    typer.echo(f"wrote {files.results_json} and {files.report_html}")


def _loss_curves(folders: list[Path]) -> list[tuple[Path, str]]:
    """The loss-curve figure of each training output folder, refusing folders that have none."""
    from stillhouse.errors import NotFoundError
    from stillhouse.train.artifacts import LOSS_CURVE

    figures = []
    for folder in folders:
        if not (folder / LOSS_CURVE).is_file():
            raise NotFoundError(f"{folder} has no {LOSS_CURVE}", field="training-dir")
        figures.append((folder / LOSS_CURVE, f"Training loss: {folder.name}"))
    return figures
