"""Fast router latency per single query (embed + head), with the real all-MiniLM-L6-v2.

Fits the head on the packaged golden set (125 records), then routes each dev query one at a time,
as a search engine would, and prints p50/p95 for three paths: the encoder alone, encoder + head
(``FastRouter.predict``), and the full ``ChatModel`` answer (JSON with templated reasoning).
It also prints the dev-set quality of that head so speed is never read without accuracy.

    .venv/bin/python benchmarks/bench_router_latency.py [--repeats 2] [--threads 1] [--embedder minilm-gguf]

``--embedder minilm-gguf`` (the demo's) runs all-MiniLM-L6-v2 in llama.cpp, ``minilm`` in torch through
sentence-transformers; ``--threads`` applies to either.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def _timed(fn, items: list[str], repeats: int) -> list[float]:
    """Milliseconds of ``fn(item)`` for every item, ``repeats`` times over."""
    out: list[float] = []
    for _ in range(repeats):
        for item in items:
            start = time.perf_counter()
            fn(item)
            out.append((time.perf_counter() - start) * 1000.0)
    return out


def _row(name: str, values: list[float]) -> str:
    p50, p95 = np.percentile(values, [50, 95])
    return f"{name:<28} n={len(values):<4} p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   mean {np.mean(values):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="passes over the 125 dev queries")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="encoder threads (torch or llama.cpp); 1 is fastest for one short query on a busy box",
    )
    parser.add_argument("--embedder", default="minilm-gguf", help="minilm-gguf (llama.cpp) or minilm (torch)")
    args = parser.parse_args()
    os.environ["STILLHOUSE_LLAMA_THREADS"] = str(args.threads)

    import torch

    from stillhouse.chat import GenerationParams, Message
    from stillhouse.evaluate import evaluate_models
    from stillhouse.router.fast_router import FastRouter, FastRouterModel
    from stillhouse.router.trainer import fit, training_pairs
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev, load_golden

    torch.set_num_threads(args.threads)
    task = get_task("video-router")
    golden, dev = load_golden(), load_dev()
    started = time.perf_counter()
    router = FastRouter.from_spec(args.embedder)
    print(
        f"encoder {router.embedder.name} loaded in {time.perf_counter() - started:.1f} s; threads {args.threads}"
    )
    report = fit(router, *training_pairs(golden)[:2])
    print(
        f"head fitted on {report.examples} golden records in {report.seconds:.2f} s (final KL {report.final_kl:.3f})"
    )

    queries = [r.prompt_turns[-1].text for r in dev]
    model = FastRouterModel(router)
    params = GenerationParams()
    _timed(lambda q: router.predict([q]), queries[:40], 1)  # warm-up: first calls allocate and tune kernels
    print(_row("encoder only", _timed(lambda q: router.embedder.embed([q]), queries, args.repeats)))
    print(_row("encoder + head", _timed(lambda q: router.predict([q]), queries, args.repeats)))
    ask = lambda q: model.generate([Message(role="user", content=q)], params)  # noqa: E731
    print(_row("ChatModel answer (JSON)", _timed(ask, queries, args.repeats)))

    summary = (
        evaluate_models(task, dev, {"fast-router": model}, show_progress=False).models["fast-router"].summary
    )
    print(
        f"dev quality: rubric {summary.rubric_mean:.2f}, weight MAE {summary.weight_mae:.3f}, "
        f"dominant accuracy {summary.dominant_accuracy:.1%}, valid {summary.validity:.0%}"
    )


if __name__ == "__main__":
    main()
