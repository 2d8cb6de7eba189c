"""CLI: `stillhouse train` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import app, emit_json


@app.command()
def train(
    student: Annotated[str, typer.Option(help="Catalog name (smollm2-135m) or a local transformers folder.")],
    data: Annotated[Path, typer.Option(help="Labelled bedrock-conversation-2024 JSONL (8-20,000 records).")],
    out: Annotated[Path, typer.Option(help="Output folder: metrics, checkpoints, model/.")],
    validation: Annotated[Path | None, typer.Option(help="Labelled JSONL for a validation loss.")] = None,
    hp: Annotated[
        list[str] | None,
        typer.Option(
            help="Hyperparameter KEY=VALUE, repeatable: epochCount, learningRate, "
            "learningRateWarmupSteps, batchSize; distillationMethod (sft, kd, uld), kdWeight, "
            "kdTemperature, kdTopK, kdBeta; studentReasoningChars (with --task: the reasoning of "
            "its answers shortened to at most N characters)."
        ),
    ] = None,
    method: Annotated[Literal["lora", "full"], typer.Option(help="LoRA adapter or full weights.")] = "lora",
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint in --out.")] = False,
    max_length: Annotated[
        int | None, typer.Option(min=8, help="Token cap per record (default: the context).")
    ] = None,
    overflow: Annotated[
        Literal["error", "truncate", "drop"], typer.Option(help="What to do with records over --max-length.")
    ] = "error",
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after this many steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for weights init, dropout and data order.")] = 42,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Steps between checkpoints.")] = 50,
    merge: Annotated[bool, typer.Option(help="Merge the LoRA adapter into the saved weights.")] = True,
    keep_checkpoints: Annotated[
        bool, typer.Option(help="Keep the checkpoints after the run completes (they are removed by default).")
    ] = False,
    task: Annotated[
        str | None,
        typer.Option(help="Train in this task's student format (compact prompt; served the same way)."),
    ] = None,
    teacher_distributions: Annotated[
        Path | None,
        typer.Option(
            help="The teacher's top-k distributions (label --top-logprobs), for distillationMethod=kd|uld."
        ),
    ] = None,
    processes: Annotated[
        int,
        typer.Option(
            min=1, help="Train on this many local processes (DDP, gloo); under torchrun leave it at 1."
        ),
    ] = 1,
    grad_accumulation: Annotated[
        int,
        typer.Option(
            min=1,
            help="Micro-batches per process and step (per-process micro-batch x this x processes = batchSize).",
        ),
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
) -> None:
    """Fine-tune a student on labelled records (loss on assistant tokens only).

    Hyperparameters use Bedrock's names: epochCount 1-5 (default 2), learningRate 1e-6-1e-4
    (default 1e-4 for LoRA, 1e-5 for full), learningRateWarmupSteps 0-100 (default 10), batchSize
    1-64 (default 4). Writes training_artifacts/step_wise_training_metrics.csv, a loss curve, the
    validation metrics when --validation is given, and OUT/model, a folder transformers loads as is.
    Ctrl-C stops after the current step with a checkpoint; --resume continues. Across processes:
    --processes N here, or `torchrun --nproc-per-node N -m stillhouse train ...` (and --nnodes for
    several machines); the global batch stays batchSize and rank 0 prints and writes.
    """
    from stillhouse.train import TrainConfig
    from stillhouse.train.distributed import is_primary
    from stillhouse.train.hparams import parse_assignments
    from stillhouse.train.launch import run_training_processes
    from stillhouse.train.student import prefer_passive_openmp

    prefer_passive_openmp()  # a training-only process: safe to let idle OpenMP threads sleep

    config = TrainConfig(
        student=student,
        data=data,
        out=out,
        validation=validation,
        teacher_distributions=teacher_distributions,
        hyperparameters=parse_assignments(hp or []),
        method=method,
        resume=resume,
        max_length=max_length,
        overflow=overflow,
        max_steps=max_steps,
        seed=seed,
        checkpoint_every=checkpoint_every,
        merge=merge,
        task=task,
        retain_checkpoints=keep_checkpoints,
        grad_accumulation=grad_accumulation,
        progress=True,  # on stderr: a bar on a terminal, periodic lines otherwise
    )
    result = run_training_processes(config, processes)
    if not is_primary():  # a torchrun rank other than 0: rank 0 reports the run
        return
    if as_json:
        emit_json(result.model_dump(mode="json"))
        return
    typer.echo(
        f"trained {result.steps} steps in {result.seconds:.1f} s ({result.tokens_per_second:,.0f} tok/s)"
    )
    typer.echo(f"final training loss {result.final_training_loss:.4f}")
    if result.validation_loss is not None:
        typer.echo(f"validation loss {result.validation_loss:.4f}")
    typer.echo(f"model: {result.model_dir}")
    typer.echo(f"metrics: {result.metrics_csv}")
