"""The weights-only router on the distilled student's own first layers, against the fast router.

    STILLHOUSE_HOME=<the demo's home> OMP_WAIT_POLICY=PASSIVE PYTHONPATH=src \\
        .venv/bin/python benchmarks/bench_early_exit.py --run runs/demo \\
        [--layers 4,6,8] [--pooling mean,last] [--cut 4,6] [--epochs 4] [--targets teacher|student]
        [--golden] [--heldout N] [--threads 1]

The route head (``route-head:SPEC``) reads the student's route probabilities from a pass over the
query through all of its layers. Here the demo's published student (``<run>/models/student``) is
cut to its first K layers (:func:`stillhouse.models.gguf_layers.truncate_gguf`, with the pooling
llama.cpp's embedding mode applies) and made the encoder of a fast router: its head is fitted
exactly as the demo fits the fast router's (``recipes.video_router.train_fast_router``: the
verified teacher labels plus the weakly labelled router queries), only the encoder changed, and it
is saved under ``<run>/early-exit/l{K}-{pooling}/`` as a router folder any ``--router`` loads.
A folder already there is reused.

``--cut K,...`` adds the cut routers (:mod:`stillhouse.router.cut_router`): the same first K layers
fine-tuned end to end on the same training set (``recipes.video_router.router_training_set``), with
the head in the GGUF's vocabulary head, so llama.cpp projects only the last position. They are
saved under ``<run>/early-exit/cut-l{K}/`` (reused when there) and loaded by any ``--router``.
``--targets student`` fine-tunes them instead on the published student's own weights-only answers
(the route head, ``search.routing.RouteHeadRouter``) for the same queries: the early layers
distilled from the whole student, saved under ``cut-l{K}-student/``. ``--golden`` adds the 125
hand-labelled golden examples to the training set (``router_training_set(golden=True)``; the
held-out set is apart from them) and fits a fast router on that same set too, saved as
``fast-router-golden/``, so both kinds of router are compared on one training set. ``--layers ''``
leaves the frozen encoders out.

Then the demo's fast router and every early-exit router answer the held-out set interleaved, one
query each in turn, each query alone (what the search engine pays per query), scored by
``stillhouse.evaluate`` against the human labels: rubric, MAE, dominant accuracy, p50/p95, and
each p50's ratio to the fast router's (the issue's goal for a weights-only path: within 3x).
Figures only, nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

FAST = "fast-router"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/demo"), help="the demo run's folder (its out)")
    parser.add_argument("--layers", default="4,6,8", help="comma-separated layer counts to keep")
    parser.add_argument("--pooling", default="mean,last", help="comma-separated: mean, last")
    parser.add_argument("--cut", default="", help="comma-separated layer counts of cut routers to fine-tune")
    parser.add_argument("--epochs", type=int, default=4, help="the cut routers' fine-tuning epochs")
    parser.add_argument("--golden", action="store_true", help="train on the golden examples too")
    parser.add_argument(
        "--targets",
        choices=("teacher", "student"),
        default="teacher",
        help="what the cut routers learn: the training set's labels, or the whole student's route head",
    )
    parser.add_argument("--heldout", type=int, default=None, help="the first N held-out queries (all)")
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def early_exit_router(args: argparse.Namespace, config: Any, layers: int, pooling: str) -> Path:
    """The router folder on the student's first ``layers`` layers, fitted unless it is there."""
    from stillhouse.models.gguf_layers import truncate_gguf
    from stillhouse.recipes.video_router import Layout, train_fast_router
    from stillhouse.router.fast_router import CONFIG_FILE

    layout = Layout(root=args.run)
    folder = args.run / "early-exit" / f"l{layers}-{pooling}"
    if (folder / CONFIG_FILE).is_file():
        print(f"{folder} is fitted; reusing it")
        return folder
    encoder = truncate_gguf(layout.student / "model.gguf", folder / "encoder.gguf", layers, pooling)  # type: ignore[arg-type]
    report = train_fast_router(config.model_copy(update={"router_embedder": str(encoder)}), layout, folder)
    print(
        f"{folder}: fitted on {report.examples} queries in {report.seconds:.1f} s, final KL {report.final_kl:.3f}"
    )
    return folder


def cut_router(args: argparse.Namespace, config: Any, layers: int) -> Path:
    """The cut router on the student's first ``layers`` layers, fine-tuned unless it is there."""
    from stillhouse.recipes.video_router import Layout, router_training_set
    from stillhouse.router.cut_router import CONFIG_FILE, CutTraining
    from stillhouse.router.cut_trainer import fit_cut_router

    layout = Layout(root=args.run)
    name = f"cut-l{layers}{'-student' if args.targets == 'student' else ''}{'-golden' if args.golden else ''}"
    folder = args.run / "early-exit" / name
    if (folder / CONFIG_FILE).is_file():
        print(f"{folder} is fine-tuned; reusing it")
        return folder
    queries, targets = router_training_set(config, layout, golden=args.golden)
    if args.targets == "student":
        targets = route_head_targets(layout, queries, args.quiet)
    training = CutTraining(layers=layers, epochs=args.epochs)
    report = fit_cut_router(layout.student, queries, targets, folder, training, show_progress=not args.quiet)
    print(
        f"{folder}: {report.steps} steps on {report.examples} queries in {report.seconds:.1f} s, "
        f"final KL {report.final_kl:.3f}"
    )
    return folder


def golden_fast_router(args: argparse.Namespace, config: Any) -> Path:
    """The fast router fitted on the training set with the golden examples, unless it is there."""
    from stillhouse.recipes.video_router import Layout, train_fast_router
    from stillhouse.router.fast_router import CONFIG_FILE

    folder = args.run / "early-exit" / "fast-router-golden"
    if not (folder / CONFIG_FILE).is_file():
        train_fast_router(config, Layout(root=args.run), folder, golden=True)
    return folder


def route_head_targets(layout: Any, queries: list[str], quiet: bool) -> Any:
    """The published student's route-head weights for ``queries`` (rows in MODALITIES order),
    computed once and kept beside the routers."""
    import numpy as np

    from stillhouse.models import load_model
    from stillhouse.progress import progress_bar
    from stillhouse.search.routing import RouteHeadRouter
    from stillhouse.tasks.video_router.prompt import MODALITIES

    cache = layout.root / "early-exit" / f"route-head-targets-{len(queries)}.npy"
    if cache.is_file():
        return np.load(cache)
    head = RouteHeadRouter(load_model(str(layout.student)))
    rows = []
    with progress_bar("route-head targets", total=len(queries), disable=quiet) as (bar, task):
        for query in queries:
            weights = head.route(query, index="training").weights
            rows.append([weights[m] for m in MODALITIES])
            bar.update(task, advance=1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.array(rows))
    return np.array(rows)


def _numbers(text: str) -> list[int]:
    return [int(n) for n in text.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> Any:
    from stillhouse.evaluate import default_params
    from stillhouse.evaluate.run import evaluate_models
    from stillhouse.evaluate.table import render_text, summary_table
    from stillhouse.models import load_model
    from stillhouse.recipes.video_router import Layout, recorded_config
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks import get_task

    args = parse_args(argv)
    os.environ["STILLHOUSE_LLAMA_THREADS"] = str(args.threads)
    layout, config = Layout(root=args.run), recorded_config(args.run, progress=not args.quiet)
    folders = {FAST: layout.fast_router}
    for layers in _numbers(args.layers):
        for pooling in args.pooling.split(","):
            folders[f"l{layers}-{pooling}"] = early_exit_router(args, config, layers, pooling.strip())
    if args.golden:
        folders["fast-router-golden"] = golden_fast_router(args, config)
    for layers in _numbers(args.cut):
        folder = cut_router(args, config, layers)
        folders[folder.name] = folder
    models = {label: load_model(str(folder)) for label, folder in folders.items()}
    records = read_dataset(layout.heldout, "none", "refuse")[0][: args.heldout]
    task = get_task("video-router")
    before = os.getloadavg()
    results = evaluate_models(
        task,
        records,
        models,
        params=default_params(task),
        warmup=1,
        show_progress=not args.quiet,
        interleave=True,
    )
    after = os.getloadavg()
    print(f"\n{len(records)} held-out queries, interleaved; {args.threads} llama.cpp thread(s)")
    print(f"load average before {before[0]:.1f}, after {after[0]:.1f}")
    print(render_text(summary_table(results), "Against the human labels"))
    fast = results.models[FAST].summary.p50_ms or float("nan")
    for label, model in results.models.items():
        print(f"{label}: p50 {(model.summary.p50_ms or float('nan')) / fast:.2f}x the fast router's")
    out = args.run / "early-exit" / "results.json"
    out.write_text(results.model_dump_json(indent=2), encoding="utf-8")
    print(f"results: {out}")
    return results


if __name__ == "__main__":
    main()
