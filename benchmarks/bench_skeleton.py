"""Skeleton decoding against llama.cpp's grammar: the same model, schema and queries, both decoders.

    python benchmarks/bench_skeleton.py [--model runs/demo/models/student] [--n 100]
    python benchmarks/bench_skeleton.py --model qwen2.5-coder-1.5b --shots 4 --n 20   # the teacher

Each decoder answers the first ``--n`` hand-labelled dev queries (the demo's held-out set) greedily
under the router's schema: ``grammar`` is llama-cpp-python's JSON-schema grammar, one forward pass
per token; ``skeleton`` is :mod:`stillhouse.models.llamacpp_skeleton`, which runs forced text (keys,
quotes, separators) in batches. A model folder with a student manifest is served in its student
format, as the demo serves it; ``--shots K`` gives a teacher its K steered golden examples, as the
demo labels with them (no cache, so each decoder really answers).

Prints, per decoder, p50/p95 latency, output tokens, and the rubric, dominant accuracy and validity
against the hand labels; then how many answers the two decoders wrote identically and how many route
to the same dominant modality. Greedy answers can still differ: batched and single-token forward
passes round differently, and a near tie between two tokens can flip. Figures only.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

DEMO_STUDENT = "runs/demo/models/student"


def answers(model: Any, dev: list, task: Any, max_tokens: int) -> tuple[list[str], list[float], list[int]]:
    """The model's answers to ``dev`` with each one's latency (ms) and output tokens."""
    from stillhouse.evaluate import default_params
    from stillhouse.progress import progress_bar

    params = default_params(task, max_tokens=max_tokens)
    texts, latencies, tokens = [], [], []
    model.generate(task.messages("warm-up query"), params)  # load the weights and compile the template
    with progress_bar(model.label, len(dev)) as (bar, bar_task):
        for record in dev:
            completion = model.generate(task.messages(record.messages[0].text), params)
            texts.append(completion.text)
            latencies.append(completion.latency_ms)
            tokens.append(completion.output_tokens)
            bar.update(bar_task, advance=1)
    return texts, latencies, tokens


def report(
    label: str, texts: list[str], latencies: list[float], tokens: list[int], dev: list, task: Any
) -> None:
    import numpy as np

    from stillhouse.tasks.video_router.rubric import aggregate, score_answer

    scores = [
        score_answer(t, task.lenient_value(r.answer or "") or {}) for t, r in zip(texts, dev, strict=True)
    ]
    m = aggregate(scores, latencies)
    print(
        f"{label:<10}{m.latency_p50_ms:>9.0f}{m.latency_p95_ms:>9.0f}{np.mean(tokens):>8.1f}"
        f"{m.mean_score:>8.2f}{m.dominant_accuracy:>10.1%}{m.validity_rate:>8.1%}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        default=DEMO_STUDENT if Path(DEMO_STUDENT).is_dir() else "smollm2-135m",
        help="GGUF model spec or folder (default: the demo's student, else the packaged SmolLM2)",
    )
    parser.add_argument("--n", type=int, default=100, help="held-out dev queries (the demo's: 100)")
    parser.add_argument("--shots", type=int, default=0, help="steered golden examples per query (a teacher)")
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.models import load_model
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev

    task, dev = get_task("video-router"), load_dev()[: args.n]
    print(f"{args.model}; {len(dev)} held-out queries; shots={args.shots}")
    print(f"{'decoder':<10}{'p50 ms':>9}{'p95 ms':>9}{'tokens':>8}{'rubric':>8}{'dominant':>10}{'valid':>8}")
    outputs = {}
    for label in ("grammar", "skeleton"):
        model = with_shots(load_model(args.model, n_ctx=4096, skeleton=label == "skeleton"), args.shots, task)
        model.label = label
        outputs[label] = answers(model, dev, task, args.max_tokens)
        report(label, *outputs[label], dev, task)
        del model
    grammar, skeleton = outputs["grammar"][0], outputs["skeleton"][0]
    same = sum(g == s for g, s in zip(grammar, skeleton, strict=True))
    same_route = sum(
        task.answer_class(g) == task.answer_class(s) for g, s in zip(grammar, skeleton, strict=True)
    )
    print(f"identical answers {same}/{len(dev)}; same dominant modality {same_route}/{len(dev)}")


def with_shots(model: Any, k: int, task: Any) -> Any:
    """``model`` as a few-shot teacher with ``k`` steered golden examples (unanchored, uncached, as
    these figures were first taken), or unchanged for 0."""
    if k == 0:
        return model
    from stillhouse.tasks.video_router.golden import load_golden
    from stillhouse.teacher.build import TeacherConfig, build_teacher

    return build_teacher(TeacherConfig(shots=k, anchored=0, cache="off"), load_golden(), task, model=model)


if __name__ == "__main__":
    main()
