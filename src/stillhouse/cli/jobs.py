"""CLI: `stillhouse jobs` (registered on import)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from stillhouse.cli.app import app, emit_json, jobs_app  # noqa: F401

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the full JSON answer.")]
DbOption = Annotated[
    Path | None, typer.Option("--db", help="Job database (default $STILLHOUSE_HOME/jobs.db).")
]


def _service(db: Path | None) -> Any:
    from stillhouse.jobs import JobService

    return JobService(db)


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


@jobs_app.command()
def create(
    file: Annotated[
        Path, typer.Option("--file", "-f", help="A CreateModelCustomizationJob request body (JSON).")
    ],
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a model customization job from a Bedrock-shaped request; prints its ARN.

    The job runs when a worker picks it up (`stillhouse jobs worker`, or the server's workers).
    """
    from stillhouse.errors import InvalidInputError

    try:
        body = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read a JSON request from {file}: {exc}", field="file") from exc
    answer = _service(db).create_job(body)
    emit_json(_dump(answer)) if as_json else typer.echo(answer.jobArn)


@jobs_app.command()
def get(
    job: Annotated[str, typer.Argument(help="Job ARN, name or id.")],
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a job: status, stage statuses, failure message, training loss, output model."""
    found = _service(db).get_job(job)
    if as_json:
        emit_json(_dump(found))
        return
    details = found.statusDetails
    typer.echo(f"{found.jobName}  {found.status}  ({found.customizationType})\n  arn: {found.jobArn}")
    for label, detail in (
        ("validation", details.validationDetails),
        ("data processing", details.dataProcessingDetails),
        ("training", details.trainingDetails),
    ):
        typer.echo(f"  {label:<16} {detail.status}")
    if found.failureMessage:
        typer.echo(f"  failure: {found.failureMessage}")
    if found.trainingMetrics and found.trainingMetrics.trainingLoss is not None:
        typer.echo(f"  training loss: {found.trainingMetrics.trainingLoss:.4f}")
    if found.outputModelArn:
        typer.echo(f"  model: {found.outputModelArn}")


@jobs_app.command("list")
def list_jobs(
    status: Annotated[
        str | None, typer.Option(help="InProgress, Completed, Failed, Stopping or Stopped.")
    ] = None,
    name_contains: Annotated[str | None, typer.Option(help="Only jobs whose name contains this.")] = None,
    max_results: Annotated[int, typer.Option(help="Page size.")] = 50,
    next_token: Annotated[str | None, typer.Option(help="Token of the page to show.")] = None,
    ascending: Annotated[bool, typer.Option(help="Oldest first.")] = False,
    db: DbOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first, one page at a time."""
    request = {
        "statusEquals": status,
        "nameContains": name_contains,
        "maxResults": max_results,
        "nextToken": next_token,
        "sortOrder": "Ascending" if ascending else "Descending",
    }
    answer = _service(db).list_jobs({k: v for k, v in request.items() if v is not None})
    if as_json:
        emit_json(_dump(answer))
        return
    for job in answer.modelCustomizationJobSummaries:
        typer.echo(f"{job.creationTime:%Y-%m-%d %H:%M:%S}  {job.status:<10}  {job.jobName}  {job.jobArn}")
    if answer.nextToken:
        typer.echo(f"more: --next-token {answer.nextToken}")


@jobs_app.command()
def stop(
    job: Annotated[str, typer.Argument(help="Job ARN, name or id.")],
    db: DbOption = None,
) -> None:
    """Ask a running job to stop; it stops at its next safe point (a checkpoint is kept)."""
    service = _service(db)
    service.stop_job(job)
    typer.echo(service.get_job(job).status)


@jobs_app.command()
def worker(
    workers: Annotated[int, typer.Option("--workers", "-n", min=1, help="Worker processes to run.")] = 1,
    lease_seconds: Annotated[
        float, typer.Option(help="Seconds before a dead worker's job is taken over.")
    ] = 30.0,
    db: DbOption = None,
) -> None:
    """Run job workers in the foreground until Ctrl-C; jobs of a dead worker are resumed."""
    import logging
    import time

    from stillhouse.jobs.worker import run_worker, start_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = _service(db)
    if workers == 1:
        try:
            run_worker(service, lease_seconds=lease_seconds)
        except KeyboardInterrupt:
            typer.echo("worker stopped; its job will be resumed", err=True)
        return
    pool = start_workers(service, workers, lease_seconds=lease_seconds)
    typer.echo(
        f"{workers} workers running (pids {', '.join(map(str, pool.pids))}); Ctrl-C stops them", err=True
    )
    try:
        while any(p.poll() is None for p in pool.processes):
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop()
