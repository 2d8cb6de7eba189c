"""CLI: `stillhouse images prompts` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import app, emit_json

images_app = typer.Typer(
    help="Images: prompt records for image tasks (image-keywords).", no_args_is_help=True
)
app.add_typer(images_app, name="images")


@images_app.command("prompts")
def prompts(
    folder: Annotated[Path, typer.Argument(help="A folder of images (jpg, png, webp, gif, bmp, tif).")],
    out: Annotated[Path, typer.Option("--out", help="The JSONL file of prompt records to write.")],
    max_side: Annotated[
        int, typer.Option(min=16, max=8000, help="Downscale each image to fit this many pixels a side.")
    ] = 512,
    image_format: Annotated[
        Literal["jpeg", "png"], typer.Option("--format", help="The image format stored in the records.")
    ] = "jpeg",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
) -> None:
    """Write one single-image image-keywords prompt record per image, downscaled, for labelling."""
    from stillhouse.outputs import check_output_file
    from stillhouse.records.jsonl import write_records
    from stillhouse.sources.images import ImageConfig, folder_prompt_records
    from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

    config = ImageConfig(max_side=max_side, format=image_format)
    check_output_file(out)
    built = folder_prompt_records(folder, SYSTEM_PROMPT, USER_PROMPT, config)
    written = write_records(out, built.records)
    summary = {
        "records": written,
        "out": str(out),
        "max_side": max_side,
        "estimated_image_tokens": built.tokens,
        "estimated_image_tokens_before_downscaling": built.original_tokens,
    }
    if as_json:
        emit_json(summary)
        return
    typer.echo(
        f"wrote {written} prompt records to {out}; images cost about {built.tokens:,} tokens "
        f"(width x height / 750) at {max_side} px, {built.original_tokens:,} at full size"
    )
