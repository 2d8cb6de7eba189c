"""What each labelling lever buys the weak offline teacher on the video router (models.md).

    python benchmarks/bench_teacher_levers.py [--n 125] [--teacher qwen2.5-coder-1.5b] [--k 4]
        [--cache PATH] [--only NAME ...]

Labels the hand-labelled dev queries (answers stripped) under five cumulative conditions and scores
the teacher's answers against the hand labels with the router rubric:

1. zero-shot                 system prompt only
2. fixed few-shot            the same k golden examples for every query (one per dominant modality)
3. retrieved golden          the k golden examples most similar to the query (all-MiniLM-L6-v2)
4. + self-consistency N=3    three samples (temperature 0.7), weights averaged
5. + renormalisation         answers whose weights do not sum to 1 are renormalised, not re-asked

Conditions 1-4 re-ask an invalid answer (up to two more tries) and count a record that stays invalid
as unusable. Prints dominant-modality accuracy, mean absolute weight error, validity and the mean
rubric score per condition. The full run takes on the order of an hour or more on 2 CPU cores; the
request cache (``--cache``) lets an interrupted run continue. Figures only; nothing is asserted.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from teacher_args import teacher_parser

DATA = Path(__file__).resolve().parents[1] / "src" / "stillhouse" / "tasks" / "video_router" / "data"


class Condition(BaseModel):
    """One labelling configuration under test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    shots: bool = False
    retrieve: bool = False
    samples: int = 1
    repair: bool = False


CONDITIONS = [
    Condition(name="zero-shot"),
    Condition(name="fixed few-shot", shots=True),
    Condition(name="retrieved golden", shots=True, retrieve=True),
    Condition(name="+ self-consistency N=3", shots=True, retrieve=True, samples=3),
    Condition(name="+ renormalisation", shots=True, retrieve=True, samples=3, repair=True),
]


def stratified(golden: list, task) -> list:
    """The golden records reordered so the first ones cover each dominant modality once (fixed shots)."""
    from stillhouse.tasks.video_router.weights import dominant, weights_of

    firsts: dict[str, object] = {}
    for record in golden:
        value = task.parse(record.answer or "", normalize=True).value
        if value is not None:
            firsts.setdefault(dominant(weights_of(value)), record)
    head = list(firsts.values())
    return head + [r for r in golden if all(r is not h for h in head)]


def score(out_path: Path, dev: list) -> dict:
    """Router metrics of a condition's output against the hand labels (a missing answer is unusable)."""
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks.video_router.parse import parse_answer
    from stillhouse.tasks.video_router.rubric import aggregate, score_answer
    from stillhouse.teacher.golden import query_text

    answers = {query_text(r): r.answer for r in read_dataset(out_path, "none", "skip")[0]}
    scores = [
        score_answer(
            answers.get(query_text(ref)) or "", parse_answer(ref.answer or "", normalize=True).value or {}
        )
        for ref in dev
    ]
    return aggregate(scores).model_dump()


def run_condition(cond: Condition, dev: list, golden: list, teacher, task, embedder, args, tmp: Path) -> dict:
    """Label the prompts under ``cond`` and return its metrics with cost figures."""
    from stillhouse.teacher.build import TeacherConfig, build_teacher
    from stillhouse.teacher.label import LabelConfig, label_records

    prompts = [r.model_copy(update={"messages": r.prompt_turns}) for r in dev]
    out = tmp / f"{cond.name.replace(' ', '_').replace('+', 'plus').replace('=', '')}.jsonl"
    # Unanchored and without an embedder unless the condition retrieves, as these figures were first taken.
    config = TeacherConfig(
        shots=args.k if cond.shots else 0, anchored=0, embedder=None, cache=args.cache or tmp / "cache.sqlite"
    )
    run = LabelConfig(samples=cond.samples, max_tokens=args.max_tokens, repair=cond.repair, progress=True)
    shown = embedder if cond.retrieve else None
    with build_teacher(config, golden, task, model=teacher, embedder=shown) as few_shot:
        summary = label_records(prompts, few_shot, run, out_path=out)
    return {**score(out, dev), "teacher_calls": summary.teacher_calls, "seconds": summary.seconds}


def main() -> None:
    parser = teacher_parser(
        __doc__,
        None,
        "dev queries to use (default: all)",
        "request cache to reuse across runs (default: a temporary one)",
    )
    parser.add_argument(
        "--only", nargs="*", default=None, help="run only conditions whose name contains one of these"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.models import load_model
    from stillhouse.models.embeddings import load_embedder
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks import get_task

    task = get_task("video-router")
    dev = [r for r in read_dataset(DATA / "dev.jsonl", "distillation", "report")[0] if r.is_labelled][
        : args.n
    ]
    golden_file, _ = read_dataset(DATA / "golden.jsonl", "distillation", "report")
    golden = stratified([r for r in golden_file if r.is_labelled], task)
    teacher, embedder = load_model(args.teacher), load_embedder("minilm")
    conditions = [c for c in CONDITIONS if not args.only or any(o in c.name for o in args.only)]
    print(f"teacher {teacher.name}; {len(dev)} dev queries; {len(golden)} golden; k={args.k}")
    print(
        f"{'condition':<26} {'dominant acc':>12} {'MAE':>7} {'valid':>7} {'score':>6} {'calls':>6} {'s/query':>8}"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for cond in conditions:
            m = run_condition(cond, dev, golden, teacher, task, embedder, args, Path(tmp))
            mae = f"{m['mae']:.3f}" if m["mae"] is not None else "n/a"
            print(
                f"{cond.name:<26} {m['dominant_accuracy']:>12.1%} {mae:>7} {m['validity_rate']:>7.1%} "
                f"{m['mean_score']:>6.2f} {m['teacher_calls']:>6} {m['seconds'] / len(dev):>8.1f}",
                flush=True,
            )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
