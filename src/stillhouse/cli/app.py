"""The Typer application and the one place where core errors become CLI messages."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperOption

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

# click's names for the types typer's help shows as ``<int range>``, ``<path>``, ``<str>``.
_HELP_TYPES = {
    "int": "INTEGER",
    "int range": "INTEGER",  # the range itself is shown beside it, e.g. [x>=1]
    "float": "FLOAT",
    "float range": "FLOAT",
    "str": "TEXT",
    "path": "PATH",
    "list[str]": "TEXT",
    "list[Path]": "PATH",
}


def _help_type(param: Any, ctx: Any) -> str | None:
    """The type column of ``--help``: click's names, and none for an on/off flag (typer shows ``<bool>``)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    if param.metavar is not None:
        return param.metavar
    label = str(param.display_type(ctx)).strip("<>")
    return _HELP_TYPES.get(label) or (f"[{label}]" if "|" in label else label.upper())


TyperOption.display_type_rich = _help_type  # type: ignore[method-assign]
TyperArgument.display_type_rich = _help_type  # type: ignore[method-assign]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stillhouse {package_version()}")
        raise typer.Exit()


def package_version() -> str:
    """The installed package's version (its metadata), or the source tree's when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stillhouse")
    except PackageNotFoundError:
        from stillhouse import __version__

        return __version__


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Self-hosted model distillation: label with a teacher, train a student, serve, evaluate."""


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


# The executor options of every command whose data stages can run elsewhere (label, batch, serve).
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where the model calls run: local (this process), ray (a local Ray cluster, or the one "
        "RAY_ADDRESS names) or ray://HOST:PORT. Ray needs the ray extra.",
    ),
]
ActorsOption = Annotated[
    int | None,
    typer.Option("--actors", min=1, help="Ray actors per stage (default: one per cluster CPU)."),
]

RateOption = Annotated[
    float | None,
    typer.Option(
        "--rate",
        min=0.001,
        help="On Ray: model calls per second at most, all actors together (an API quota).",
    ),
]


def executor_spec(executor: str, actors: int | None, rate: float | None = None):  # -> ExecutorSpec
    """``--executor``/``--actors``/``--rate`` parsed (``RAY_ADDRESS`` from the environment)."""
    import os

    from stillhouse.executors.spec import parse_executor

    return parse_executor(executor, os.environ, actors=actors, rate=rate)
