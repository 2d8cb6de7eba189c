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


@images_app.command("experiment")
def experiment(
    folder: Annotated[Path, typer.Argument(help="A folder of images; the last --eval-images are held out.")],
    teacher: Annotated[
        str, typer.Option(help="The vision teacher: a model folder, openai:MODEL@URL, bedrock:ID.")
    ],
    student: Annotated[str, typer.Option(help="The vision student: a local transformers model folder.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for labels, students, results and figures.")],
    sizes: Annotated[str, typer.Option(help="Training-set sizes, comma-separated.")] = "300,900",
    eval_images: Annotated[int, typer.Option(min=1, help="Images held out for evaluation.")] = 100,
    max_side: Annotated[
        int, typer.Option(min=16, max=8000, help="Downscale images to this many pixels a side.")
    ] = 512,
    max_tokens: Annotated[int, typer.Option(min=1, help="Answer token cap for teacher and students.")] = 256,
) -> None:
    """The seed's experiment: label the images with the teacher, train a student on each size, and
    plot the Jaccard distributions (base student and each trained one) and the learning curve."""
    from stillhouse.recipes.image_keywords import ImageKeywordsConfig, run_image_keywords
    from stillhouse.sources.images import ImageConfig

    try:
        parsed = tuple(int(s) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{sizes!r} is not a comma-separated list of sizes", param_hint="--sizes"
        ) from None
    config = ImageKeywordsConfig(
        images=folder,
        teacher=teacher,
        student=student,
        out=out,
        sizes=parsed,
        eval_images=eval_images,
        image=ImageConfig(max_side=max_side),
        max_tokens=max_tokens,
    )
    summary = run_image_keywords(config, log=typer.echo)
    typer.echo(f"mean Jaccard against the teacher: {summary['mean_jaccard']}; figures in {out}")
