"""CLI: `stillhouse label` and `stillhouse synthesize` (registered on import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from stillhouse.cli.app import ActorsOption, ExecutorOption, RateOption, app, emit_json, executor_spec
from stillhouse.teacher.build import TeacherConfig
from stillhouse.teacher.label import LabelConfig

_Teacher = Annotated[
    str,
    typer.Option(
        "--teacher", help="Model spec: catalog name, llamacpp:PATH, hf:DIR, openai:MODEL@URL, bedrock:ID."
    ),
]
_Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
_Cache = Annotated[
    Path | None, typer.Option(help="Request cache (SQLite); default STILLHOUSE_HOME/cache/teacher.sqlite.")
]
_Task = Annotated[
    str | None, typer.Option(help="Task whose prompt, JSON schema and parser apply (e.g. video-router).")
]
_Embedder = Annotated[
    str, typer.Option(help="Embedder for similarity: minilm, hashing[:DIM] or a model folder.")
]


def _open_cache(path: Path | None):  # -> RequestCache
    from stillhouse.teacher.cache import RequestCache

    return RequestCache(path)


_T = TeacherConfig()  # the teacher's defaults have one home; the options show them
_L = LabelConfig()


@app.command()
def label(
    prompts: Annotated[Path, typer.Argument(help="JSONL of bedrock-conversation-2024 records.")],
    out: Annotated[Path, typer.Option("--out", help="Output JSONL (appended to; a rerun resumes it).")],
    teacher: Annotated[
        str,
        typer.Option(
            "--teacher",
            help="Model spec: catalog name, llamacpp:PATH, hf:DIR, openai:MODEL@URL, bedrock:ID.",
        ),
    ] = _T.model,
    golden: Annotated[
        Path | None, typer.Option(help="JSONL of labelled examples shown as few-shot turns.")
    ] = None,
    task: _Task = None,
    samples: Annotated[
        int, typer.Option(min=1, max=32, help="Answers per prompt, combined (self-consistency).")
    ] = _L.samples,
    max_tokens: Annotated[
        int, typer.Option(min=1, help="maxResponseLengthForInference: cap on answer tokens.")
    ] = _L.max_tokens,
    k: Annotated[
        int, typer.Option("--k", min=0, max=16, help="Golden examples retrieved per prompt.")
    ] = _T.shots,
    workers: Annotated[
        int, typer.Option(min=1, help="Parallel requests (for remote teachers).")
    ] = _L.workers,
    cache: _Cache = None,
    failures: Annotated[
        Path | None, typer.Option(help="Failure report JSONL; default <out>.failures.jsonl.")
    ] = None,
    embedder: _Embedder = _T.embedder or "minilm",
    repair: Annotated[
        bool, typer.Option(help="Accept answers the task can fix (renormalised weights).")
    ] = _L.repair,
    steer: Annotated[
        bool, typer.Option(help="Take each prompt's golden examples from its likely class (the task's pool).")
    ] = _T.steer,
    anchored: Annotated[
        int,
        typer.Option(
            min=0,
            max=16,
            help="Of the --k examples, how many are the likely class's fixed anchors (none without steering).",
        ),
    ] = _T.anchored,
    top_logprobs: Annotated[
        int,
        typer.Option(
            min=0,
            max=20,
            help="Also record the teacher's top-k log-probabilities per answer token in "
            "<out>.distributions.jsonl (train on them with --hp distillationMethod=kd|uld).",
        ),
    ] = _L.top_logprobs,
    distributions_for: Annotated[
        Literal["answer", "student"],
        typer.Option(
            help="Whose answers the distributions are: 'answer' (the teacher's as written) or "
            "'student' (rewritten into --task's student format and scored by the teacher, for "
            "stillhouse train --task).",
        ),
    ] = _L.distributions_for,
    executor: ExecutorOption = "local",
    actors: ActorsOption = None,
    rate: RateOption = None,
    as_json: _Json = False,
) -> None:
    """Label prompts with a teacher model; labelled input records are kept and guide the teacher.

    Every request is cached, so a rerun pays for nothing twice; the output is written record by
    record, so a killed run resumes where it stopped. Records that fail after retries (and input lines
    that are invalid) are listed in the failure report with their line and reason.
    """
    from stillhouse.executors import open_executor
    from stillhouse.outputs import check_output_file
    from stillhouse.teacher.build import build_teacher
    from stillhouse.teacher.label import label_records
    from stillhouse.teacher.records_io import input_failures

    where = executor_spec(executor, actors, rate)
    report = failures or out.with_name(out.name + ".failures.jsonl")
    check_output_file(out, field="out")
    check_output_file(report, field="failures")
    records, read = _read_prompts(prompts, _task(task))
    config = TeacherConfig(
        model=teacher,
        shots=k,
        anchored=anchored,
        steer=steer,
        embedder=embedder,
        cache=cache or "default",
        lazy=where.kind != "local",
    )
    run = LabelConfig(
        max_tokens=max_tokens,
        samples=samples,
        workers=workers,
        repair=repair,
        progress=True,  # on stderr: a bar on a terminal, periodic lines otherwise
        failures_path=failures,
        top_logprobs=top_logprobs,
        distributions_for=distributions_for,
    )
    with (
        open_executor(where) as runs_on,
        build_teacher(config, _read_golden(golden), _task(task)) as the_teacher,
    ):
        summary = label_records(
            records,
            the_teacher,
            run,
            out_path=out,
            line_numbers=read.kept_lines,
            invalid=input_failures(read.invalid),
            executor=runs_on,
        )
    failed = f"{summary.failed} records failed or were invalid: see {report}"
    if as_json:
        emit_json(summary.public())
        typer.echo(failed, err=True)
    else:
        typer.echo(
            f"labelled {summary.labelled} ({summary.from_cache} from cache, {summary.resumed} already in "
            f"{out}), kept {summary.golden_kept} golden pairs, {summary.teacher_calls} teacher calls, "
            f"{summary.input_tokens}+{summary.output_tokens} tokens, {summary.seconds:.1f} s"
        )
        typer.echo(failed)
    if summary.labelled + summary.golden_kept == 0:  # nothing usable: a script must not carry on
        typer.secho(f"error: no record was labelled; {failed}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _read_prompts(path: Path, task=None):  # task: Task | None -> (records, ValidationReport)
    """Records under the distillation rules (the image-prompts rules for a task that takes images),
    each bad line reported; only an oversize file is refused."""
    from stillhouse.records.validate import require_at_most
    from stillhouse.sources.dataset import read_dataset

    profile = "image-prompts" if task is not None and task.takes_images else "distillation"
    records, read = read_dataset(path, profile, "report")
    require_at_most(read)
    return records, read


def _warn_unused(path: Path, read) -> None:  # read: ValidationReport
    from stillhouse.teacher.records_io import input_failures

    for failure in input_failures(read.invalid):
        typer.secho(
            f"{path}: line {failure.line}: {failure.reason} (not used)", err=True, fg=typer.colors.YELLOW
        )


def _read_golden(path: Path | None) -> list:
    """Labelled examples from ``--golden``; refused lines and unlabelled records are reported on stderr."""
    if path is None:
        return []
    guides, read = _read_prompts(path)
    _warn_unused(path, read)
    unlabelled = [line for line, r in zip(read.kept_lines, guides, strict=True) if not r.is_labelled]
    if unlabelled:
        typer.secho(f"{path}: lines {unlabelled} have no answer (not used as golden examples)", err=True)
    return [r for r in guides if r.is_labelled]


def _task(name: str | None):  # -> Task | None
    from stillhouse.tasks import get_task

    return get_task(name) if name else None


def _embedder(spec: str):  # -> Embedder
    from stillhouse.models.embeddings import load_embedder

    return load_embedder(spec)


@app.command()
def synthesize(
    prompts: Annotated[Path, typer.Argument(help="JSONL of seed prompts (bedrock-conversation-2024).")],
    teacher: _Teacher,
    n: Annotated[int, typer.Option("--n", min=1, max=15000, help="How many new prompts to generate.")],
    out: Annotated[Path, typer.Option("--out", help="Output JSONL of the new prompt-only records.")],
    task: _Task = None,
    embedder: _Embedder = "minilm",
    seed: Annotated[int, typer.Option(help="Seed for sampling the example prompts and decoding.")] = 0,
    cache: _Cache = None,
    as_json: _Json = False,
) -> None:
    """Generate new prompts (paraphrases and variations of the given ones) with a teacher, deduplicated.

    Near-duplicates are dropped by normalised text and by embedding similarity; the total stays within
    15,000 prompts. Invalid seed lines are reported on stderr and not used.
    """
    from stillhouse.models import load_model
    from stillhouse.outputs import check_output_file
    from stillhouse.records.jsonl import write_records
    from stillhouse.teacher.synthesize import run_synthesis

    check_output_file(out, field="out")
    seeds, read = _read_prompts(prompts)
    _warn_unused(prompts, read)
    with _open_cache(cache) as request_cache:
        result = run_synthesis(
            seeds,
            load_model(teacher),
            n,
            embedder=_embedder(embedder),
            task=_task(task),
            seed=seed,
            cache=request_cache,
            progress=True,
        )
    write_records(out, result.records)
    if as_json:
        emit_json(
            {**result.model_dump(exclude={"records"}), "generated": len(result.records), "out": str(out)}
        )
        return
    typer.echo(
        f"generated {len(result.records)} of {n} new prompts into {out} ({result.requests} requests, "
        f"{result.teacher_calls} teacher calls, {result.duplicates} duplicates dropped, {result.seconds:.1f} s)"
    )
