"""The Typer application and the one place where core errors become CLI messages."""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="stillhouse",
    help="Self-hosted model distillation: label with a teacher, train a student, serve, evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
models_app = typer.Typer(
    help="The offline model catalog: list and assemble packaged models.", no_args_is_help=True
)
jobs_app = typer.Typer(help="Model customization jobs (distillation, fine-tuning).", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(jobs_app, name="jobs")


def main() -> None:
    """Entry point: run the app, turning stillhouse errors into one-line messages and exit code 2."""
    from stillhouse.errors import StillhouseError

    try:
        app()
    except StillhouseError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", err=True)
        sys.exit(130)


def emit_json(obj: object) -> None:
    """Print one JSON object on stdout (the ``--json`` output of every command)."""
    import json

    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=str))
