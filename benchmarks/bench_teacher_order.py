"""Does the weak offline teacher route better when it names the route, or reasons, before the weights?

    python benchmarks/bench_teacher_order.py [--n 100] [--teacher qwen2.5-coder-1.5b] [--k 4]
        [--cache PATH] [--only weights route reasoning]

The distilled student routed 70-74% of the held-out queries right when it wrote its reasoning first
and 86-90% when it named the dominant modality first (benchmarks/bench_student.py). This asks the same
of the teacher. It answers the first ``--n`` hand-labelled dev queries (the demo's held-out set) with
the labelling setup (``--k`` golden examples retrieved by all-MiniLM-L6-v2, schema-constrained greedy
decoding) in three answer orders:

- ``weights``    the task's own order: the four weights, then the reasoning (what labelling uses)
- ``route``      ``route`` (one of the four modalities), reasoning, weights: the student's order
- ``reasoning``  reasoning, ``route``, weights: a one-sentence chain of thought before the decision

The golden shots are rendered in the order under test, and the prompt's answer line says it. Each
answer is read back into the task's canonical form (weights renormalised) and scored against the hand
labels. Prints dominant accuracy, MAE, validity and the rubric mean per order; about 11 minutes of
CPU per order for 100 queries on 2 cores. Figures only; nothing is asserted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from teacher_args import teacher_parser

ORDERS = ("weights", "route", "reasoning")


def answer_form(order: str, task: Any) -> tuple[str, dict[str, Any], Callable[[dict[str, Any]], str]]:
    """(system prompt, JSON schema, answer renderer) for an answer order."""
    from stillhouse.tasks.video_router.prompt import MODALITIES, SYSTEM_PROMPT
    from stillhouse.tasks.video_router.schema import JSON_SCHEMA, STUDENT_JSON_SCHEMA

    if order == "weights":
        return SYSTEM_PROMPT, JSON_SCHEMA, task.render
    props = STUDENT_JSON_SCHEMA["properties"]
    keys = ["route", "reasoning"] if order == "route" else ["reasoning", "route"]
    schema = {**STUDENT_JSON_SCHEMA, "properties": {k: props[k] for k in [*keys, *MODALITIES]}}
    fields = {
        "route": '"route": the modality that best matches the query',
        "reasoning": '"reasoning": "one short sentence"',
    }
    weights = ", ".join(f'"{m}": w' for m in MODALITIES)
    system = SYSTEM_PROMPT.split("Answer with JSON only")[0] + (
        f"Answer with JSON only: {{{fields[keys[0]]}, {fields[keys[1]]}, {weights}}}. Weights are "
        "numbers from 0 to 1 that sum to 1.0; the route gets the most weight."
    )

    def render(value: dict[str, Any]) -> str:
        answer = json.loads(task.render_student(value))
        return json.dumps({k: answer[k] for k in [*keys, *MODALITIES]}, ensure_ascii=False)

    return system, schema, render


def run_order(order: str, dev: list, golden: list, teacher: Any, task: Any, args: Any, cache: Any) -> dict:
    """Answer and score the dev queries in one answer order."""
    from stillhouse.chat import GenerationParams, Message
    from stillhouse.progress import progress_bar
    from stillhouse.tasks.video_router.rubric import aggregate, score_answer
    from stillhouse.teacher.cache import cached_generate
    from stillhouse.teacher.golden import GoldenExample, GoldenIndex, few_shot_turns

    system, schema, render = answer_form(order, task)
    shots = [GoldenExample(query=g.query, answer=render(task.lenient_value(g.answer))) for g in golden]
    index = GoldenIndex(shots, args.embedder)
    params = GenerationParams(max_tokens=args.max_tokens, temperature=0.0, json_schema=schema)
    scores, seconds = [], 0.0
    with progress_bar(order, len(dev)) as (bar, bar_task):
        for record in dev:
            query = record.messages[0].text
            messages = [
                Message(role="system", content=system),
                *few_shot_turns(index.nearest([query], args.k)[0]),
                Message(role="user", content=query),
            ]
            started = time.perf_counter()
            completion, _ = cached_generate(teacher, messages, params, cache)
            seconds += time.perf_counter() - started
            value = task.lenient_value(completion.text)
            answer = task.render(value) if value is not None else completion.text
            reference = task.lenient_value(record.answer or "") or {}
            scores.append(score_answer(answer, reference))
            bar.update(bar_task, advance=1)
    return {**aggregate(scores).model_dump(), "seconds": seconds}


def main() -> None:
    parser = teacher_parser(__doc__, 100, "held-out dev queries (the demo's: 100)")
    parser.add_argument("--only", nargs="*", default=None, choices=ORDERS)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.models import load_model
    from stillhouse.models.embeddings import load_embedder
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev, load_golden
    from stillhouse.teacher.cache import RequestCache
    from stillhouse.teacher.golden import golden_examples

    task = get_task("video-router")
    dev, golden = load_dev()[: args.n], golden_examples(load_golden())
    teacher, args.embedder = load_model(args.teacher), load_embedder("minilm")
    cache = RequestCache(args.cache)
    print(f"teacher {teacher.name}; {len(dev)} held-out queries; {len(golden)} golden; k={args.k}")
    print(f"{'answer order':<14}{'dominant':>10}{'MAE':>8}{'valid':>8}{'rubric':>8}{'s/answer':>10}")
    for order in args.only or ORDERS:
        m = run_order(order, dev, golden, teacher, task, args, cache)
        print(
            f"{order:<14}{m['dominant_accuracy']:>10.1%}{m['mae']:>8.3f}{m['validity_rate']:>8.1%}"
            f"{m['mean_score']:>8.2f}{m['seconds'] / len(dev):>10.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
