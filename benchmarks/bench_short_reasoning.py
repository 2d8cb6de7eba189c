"""A router student trained on short reasoning, side by side with the demo's student in one run.

    STILLHOUSE_HOME=<the demo's home> OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src \\
        .venv/bin/python benchmarks/bench_short_reasoning.py --run runs/demo \\
        [--reasoning-chars 40] [--decimals 2] [--decode-until reasoning] [--heldout N] [--threads 1]
        [--base SPEC --steps N --limit N]   (smoke runs on another base model)

Given a finished demo run (``--run``, laid out as ``recipes/video_router.Layout``: its labelled and
verified training records, its held-out set, its published student and ``summary.json``), trains ONE
new student on the same records with the teacher's reasoning shortened to ``--reasoning-chars``
(the ``studentReasoningChars`` hyperparameter, recorded in the new student's ``stillhouse.json``):
the recipe's own ``train_student`` and ``publish_demo_student`` with the demo's config, only the
student format changed (same base model, hyperparameters, seed and method). It lives in
``<run>/short-reasoning-N/`` and a rerun reuses it (training resumes from its checkpoint when it
was interrupted, and is skipped when the student is published).

Then both students answer the held-out set interleaved, one query each in turn (the order rotated
per query), on ``--threads`` llama.cpp threads, so they share the machine's load; ``--decimals D``
adds the short student decoded with ``D``-decimal weights (``StudentDecoding.number_decimals``) on
the same loaded model, and ``--decode-until reasoning`` both students decoded only up to their
reasoning, the weights from their route scores (``StudentDecoding.decode_until``). Scored by ``stillhouse.evaluate`` (``run_model``, ``summarize``, the summary
table) against the human labels: rubric, weight MAE, dominant accuracy, valid JSON, p50/p95 latency,
answer tokens; plus each p50's ratio to today's and the mean reasoning length. The load average
is printed before and after; the results go to ``<run>/short-reasoning-N/results.json``.
Figures only, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

TODAY, SHORT = "today", "short-reasoning"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="the demo run's folder (its out)")
    parser.add_argument("--reasoning-chars", type=int, default=40)
    parser.add_argument("--decimals", type=int, default=None, help="also the short student at D decimals")
    parser.add_argument(
        "--decode-until", default=None, help="also both students decoded up to KEY, the rest from the route"
    )
    parser.add_argument("--heldout", type=int, default=None, help="the first N held-out queries (all)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--base", default=None, help="another base model than the demo's (smoke runs)")
    parser.add_argument("--steps", type=int, default=None, help="stop training after N steps (smoke runs)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N records (smoke runs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def demo_config(args: argparse.Namespace) -> Any:
    """The demo's config as its ``summary.json`` recorded it, with ``--base``/``--steps`` applied and
    the student format the only other change."""
    from stillhouse.models.manifest import StudentFormat
    from stillhouse.recipes.video_router import recorded_config

    update: dict[str, Any] = {"student_format": StudentFormat(reasoning_chars=args.reasoning_chars)}
    if args.base:
        update["student"] = args.base
    if args.steps:
        update["student_steps"] = args.steps
    return recorded_config(args.run, progress=not args.quiet, **update)


def short_root(args: argparse.Namespace) -> Path:
    """Where the short-reasoning student's run lives, one folder per reasoning cap."""
    return args.run / f"short-reasoning-{args.reasoning_chars}"


def short_student(args: argparse.Namespace, config: Any, log: Any = print) -> Path:
    """The short-reasoning student's published folder, trained and published unless it is."""
    from stillhouse.models.manifest import read_manifest
    from stillhouse.recipes.video_router import Layout, publish_demo_student, train_student
    from stillhouse.train.export import MODEL_DIR

    demo, short = Layout(root=args.run), Layout(root=short_root(args))
    manifest = read_manifest(short.student) if short.student.is_dir() else None
    if manifest is not None:
        if manifest.trained_on != config.student_format:
            raise SystemExit(f"{short.student} was trained on {manifest.trained_on}; remove it to retrain")
        log(f"{short.student} is published; not training it again")
        return short.student
    short.verified.parent.mkdir(parents=True, exist_ok=True)
    lines = demo.verified.read_text(encoding="utf-8").splitlines(keepends=True)
    if not short.verified.is_file():  # a resumed run's checkpoint is for these exact records
        short.verified.write_text("".join(lines[: args.limit]), encoding="utf-8")
    # Export writes the model's manifest last: with it the run is complete and only publishing is left.
    if read_manifest(short.student_run / MODEL_DIR) is None:
        log(f"training {config.student} on {short.verified}, reasoning <= {args.reasoning_chars} chars")
        train_student(config, short)
    return publish_demo_student(config, short)


def load_students(args: argparse.Namespace, short: Path) -> dict[str, Any]:
    """Today's student and the short one as the registry serves them (their manifests' decoding),
    and the variants ``--decimals`` and ``--decode-until`` add on the same loaded models."""
    from stillhouse.models import load_model
    from stillhouse.recipes.video_router import Layout

    models = {TODAY: load_model(str(Layout(root=args.run).student)), SHORT: load_model(str(short))}
    if args.decimals is not None:
        models[f"{SHORT}+{args.decimals}dp"] = redecoded(models[SHORT], number_decimals=args.decimals)
    if args.decode_until is not None:
        for label in (TODAY, SHORT):
            models[f"{label}+until-{args.decode_until}"] = redecoded(
                models[label], decode_until=args.decode_until
            )
    return models


def redecoded(model: Any, **levers: Any) -> Any:
    """The served student ``model`` on the same loaded backend, its decoding's ``levers`` changed."""
    from stillhouse.models.manifest import StudentDecoding
    from stillhouse.tasks.student_model import StudentFormatModel

    assert isinstance(model, StudentFormatModel)
    decoding = StudentDecoding(**{**model.decoding.model_dump(), **levers})
    return StudentFormatModel(model.inner, model.task, decoding)


def interleaved(config: Any, models: dict[str, Any], records: list, quiet: bool) -> Any:
    """Every model on every held-out record, one query each in turn after one untimed call each,
    scored by ``stillhouse.evaluate`` (``evaluate_models(interleave=True)``)."""
    from stillhouse.evaluate import default_params
    from stillhouse.evaluate.run import evaluate_models
    from stillhouse.tasks import get_task

    task = get_task("video-router")
    params = default_params(task, max_tokens=max(config.teacher_max_tokens, config.student_max_tokens))
    return evaluate_models(
        task, records, models, params=params, warmup=1, show_progress=not quiet, interleave=True
    )


def reasoning_chars(results: Any, label: str) -> float:
    """The mean length of the reasoning a model wrote (0 for an answer with none)."""
    lengths = []
    for example in results.models[label].examples:
        try:
            lengths.append(len(str(json.loads(example.prediction).get("reasoning") or "")))
        except (ValueError, AttributeError):
            lengths.append(0)
    return sum(lengths) / max(len(lengths), 1)


def report(results: Any, args: argparse.Namespace, loads: tuple[Any, Any]) -> None:
    from stillhouse.evaluate.table import render_text, summary_table

    n = results.models[TODAY].summary.n
    print(f"\n{n} held-out queries, interleaved; {args.threads} llama.cpp thread(s)")
    print(f"load average before {_load(loads[0])}, after {_load(loads[1])}")
    print(render_text(summary_table(results), "Against the human labels"))
    today = results.models[TODAY].summary.p50_ms or float("nan")
    for label, model in results.models.items():
        ratio = (model.summary.p50_ms or float("nan")) / today
        print(f"{label}: p50 {ratio:.2f}x today's, reasoning {reasoning_chars(results, label):.1f} chars")


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.1f}" for x in load)


def main(argv: list[str] | None = None) -> Any:
    from stillhouse.recipes.video_router import Layout
    from stillhouse.sources.dataset import read_dataset

    args = parse_args(argv)
    if not (Layout(root=args.run).student / "stillhouse.json").is_file():
        raise SystemExit(f"{args.run} holds no published demo student; run `stillhouse demo` first")
    os.environ["STILLHOUSE_LLAMA_THREADS"] = str(args.threads)
    config = demo_config(args)
    short = short_student(args, config)
    records = read_dataset(Layout(root=args.run).heldout, "none", "refuse")[0][: args.heldout]
    models = load_students(args, short)
    before = os.getloadavg()
    results = interleaved(config, models, records, args.quiet)
    after = os.getloadavg()
    report(results, args, (before, after))
    suffix = "".join(
        part
        for part, on in (
            (f"-{args.decimals}dp", args.decimals is not None),
            (f"-until-{args.decode_until}", args.decode_until),
        )
        if on
    )
    out = short_root(args) / f"results{suffix}.json"
    out.write_text(results.model_dump_json(indent=2), encoding="utf-8")
    print(f"results: {out}")
    return results


if __name__ == "__main__":
    main()
