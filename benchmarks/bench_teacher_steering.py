"""What steering the teacher's golden shots buys: nearest in topic vs nearest of the predicted class.

    python benchmarks/bench_teacher_steering.py [--n 100] [--teacher qwen2.5-coder-1.5b] [--k 4]
        [--cache PATH] [--conditions nearest,steered,anchored-3]

The teacher (``FewShotTeacher``, exactly as the demo labels and evaluates with it) answers the first
``--n`` hand-labelled dev queries (the demo's held-out set) under the task's schema, greedy, once per
condition:

- ``nearest``  the ``--k`` golden examples nearest to the query (all-MiniLM-L6-v2)
- ``steered``  the ``--k`` nearest golden examples of the modality that a similarity-weighted vote of
               the 4 nearest entries of the steering pool (the router's 1,600 synthesized
               single-intent queries, plus the golden examples) predicts
- ``anchored-N`` steered, but N of the k shots are the predicted class's anchors: its golden
               examples nearest the centroid of its pool queries, the same for every query of the
               class and first in the prompt, so llama.cpp restores their evaluated prefix from a
               snapshot instead of running them again (the rest are the nearest of the class)

Prints how often the steering vote and the nearest shot name the hand label's dominant modality, and
the teacher's dominant accuracy, MAE, validity, rubric mean and seconds per answer against the hand
labels. Use a fresh ``--cache`` to time the answers (a cached answer costs nothing). About 20
minutes per condition for 100 queries on a slow 2-core machine (anchored-4: 9); figures only.
"""

from __future__ import annotations

import os
import time
from typing import Any

from teacher_args import teacher_parser


def run_condition(teacher: Any, dev: list, task: Any, max_tokens: int) -> dict:
    """The teacher's answers to ``dev``, scored against the hand labels."""
    from stillhouse.evaluate import default_params
    from stillhouse.progress import progress_bar
    from stillhouse.tasks.video_router.rubric import aggregate, score_answer

    params = default_params(task, max_tokens=max_tokens)
    scores, seconds = [], 0.0
    with progress_bar(teacher.label, len(dev)) as (bar, bar_task):
        for record in dev:
            started = time.perf_counter()
            completion = teacher.generate(task.messages(record.messages[0].text), params)
            seconds += time.perf_counter() - started
            scores.append(score_answer(completion.text, task.lenient_value(record.answer or "") or {}))
            bar.update(bar_task, advance=1)
    return {**aggregate(scores).model_dump(), "seconds": seconds}


def vote_accuracy(dev: list, golden: list, task: Any, embedder: Any, steering: Any) -> tuple[int, int]:
    """How many queries the steering vote, and the single nearest golden shot, route right."""
    import numpy as np

    from stillhouse.teacher.golden import GoldenIndex, golden_examples

    examples = golden_examples(golden)
    queries = [r.messages[0].text for r in dev]
    truth = [task.answer_class(r.answer or "") for r in dev]
    index = GoldenIndex(examples, embedder)
    nearest = [task.answer_class(shots[0].answer) for shots in index.nearest(queries, 1)]
    vectors = np.asarray(embedder.embed(queries), dtype=np.float32)
    golden_matrix = np.asarray(embedder.embed([ex.query for ex in examples]), dtype=np.float32)
    labels = [task.answer_class(ex.answer) for ex in examples]
    voted = steering.classes(vectors, golden_matrix, labels, embedder)
    return sum(v == t for v, t in zip(voted, truth, strict=True)), sum(
        n == t for n, t in zip(nearest, truth, strict=True)
    )


def main() -> None:
    parser = teacher_parser(__doc__, 100, "held-out dev queries (the demo's: 100)")
    parser.add_argument(
        "--conditions",
        default="nearest,steered,anchored-3",
        help="comma-separated: nearest, steered, anchored-N (N of the k shots the class's anchors)",
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.models import load_model
    from stillhouse.models.embeddings import load_embedder
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev, load_golden
    from stillhouse.teacher.build import TeacherConfig, build_teacher
    from stillhouse.teacher.golden import task_steering

    task = get_task("video-router")
    dev, golden = load_dev()[: args.n], load_golden()
    model, embedder = load_model(args.teacher), load_embedder("minilm")
    voted, nearest = vote_accuracy(dev, golden, task, embedder, task_steering(task))
    print(f"teacher {model.name}; {len(dev)} held-out queries; {len(golden)} golden; k={args.k}")
    print(f"right modality: steering vote {voted}/{len(dev)}, nearest golden shot {nearest}/{len(dev)}")
    print(f"{'shots':<10}{'dominant':>10}{'MAE':>8}{'valid':>8}{'rubric':>8}{'s/answer':>10}")
    for label in args.conditions.split(","):
        anchored = int(label.removeprefix("anchored-")) if label.startswith("anchored-") else 0
        config = TeacherConfig(
            shots=args.k, anchored=anchored, steer=label != "nearest", cache=args.cache or "default"
        )
        with build_teacher(config, golden, task, model=model, embedder=embedder) as teacher:
            teacher.label = label
            m = run_condition(teacher, dev, task, args.max_tokens)
        print(
            f"{label:<10}{m['dominant_accuracy']:>10.1%}{m['mae']:>8.3f}{m['validity_rate']:>8.1%}"
            f"{m['mean_score']:>8.2f}{m['seconds'] / len(dev):>10.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
