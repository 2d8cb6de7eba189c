"""Decoding levers for the distilled generative router, side by side on one student in one run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_student_levers.py \
        [--student /work/fresh-demo/runs/demo/models/student] [--n 40] [--threads 1]

Loads the published student's ``model.gguf`` once (llama.cpp, skeleton decoding, the student
prompt, as ``load_model`` serves it) and answers each of the first ``--n`` held-out dev queries
under every lever in turn, so each lever sees the same machine load. Levers change only the schema
the student decodes under, not its weights:

- ``today``            the student schema: route, reasoning (at most 200 characters), four weights
- ``reasoning<=N``     the same with the reasoning capped at N characters (the closing quote is
                       forced at the cap, then the weights follow)
- ``weights-only``     route and four weights, no reasoning (for callers that do not read it)
- ``route-only``       the route alone: the floor of any answer that decides the dominant modality

Prints p50/p95 latency, mean answer tokens, the dominant accuracy against the human labels, and how
often the lever's dominant modality agrees with today's. Figures only, nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

DEMO_STUDENT = Path("/work/fresh-demo/runs/demo/models/student")


def lever_schemas(student_schema: dict[str, Any], caps: list[int]) -> dict[str, dict[str, Any]]:
    """Every lever's schema, derived from the student schema (today's first)."""
    props = student_schema["properties"]
    levers = {"today": student_schema}
    for cap in caps:
        capped = {**props, "reasoning": {**props["reasoning"], "maxLength": cap}}
        levers[f"reasoning<={cap}"] = {**student_schema, "properties": capped}
    weights = [key for key in student_schema["required"] if key not in ("route", "reasoning")]
    no_reasoning = {key: props[key] for key in ["route", *weights]}
    levers["weights-only"] = {**student_schema, "properties": no_reasoning, "required": ["route", *weights]}
    levers["route-only"] = {**student_schema, "properties": {"route": props["route"]}, "required": ["route"]}
    return levers


def predicted_dominant(text: str) -> str | None:
    """The answer's dominant modality: from its weights when it has them, else its route."""
    from stillhouse.tasks.video_router.weights import dominant, weights_of

    try:
        value = json.loads(text)
    except ValueError:
        return None
    try:
        return dominant(weights_of(value))
    except Exception:  # noqa: BLE001 - a route-only answer has no weights
        return value.get("route")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=DEMO_STUDENT)
    parser.add_argument("--n", type=int, default=40, help="held-out dev queries")
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy box")
    parser.add_argument("--caps", type=int, nargs="*", default=[80, 40])
    args = parser.parse_args()
    os.environ["STILLHOUSE_LLAMA_THREADS"] = str(args.threads)

    from stillhouse.chat import GenerationParams, Message
    from stillhouse.models.llamacpp import LlamaCppModel
    from stillhouse.tasks import get_task
    from stillhouse.tasks.student import to_student_request
    from stillhouse.tasks.video_router.golden import load_dev
    from stillhouse.tasks.video_router.weights import top_modalities, weights_of

    task = get_task("video-router")
    model = LlamaCppModel(args.student / "model.gguf", n_threads=args.threads)
    levers = lever_schemas(task.student_json_schema, args.caps)
    dev = load_dev()[: args.n]
    rows: dict[str, dict[str, list[Any]]] = {name: {"ms": [], "tokens": [], "dom": []} for name in levers}
    refs = []
    for record in dev:
        query = record.prompt_turns[-1].text
        refs.append(top_modalities(weights_of(json.loads(record.answer or "{}"))))
        messages = [Message(role="system", content=task.system_prompt), Message(role="user", content=query)]
        student_messages, _ = to_student_request(task, messages, GenerationParams())
        for name, schema in levers.items():
            params = GenerationParams(max_tokens=256, json_schema=schema)
            started = time.perf_counter()
            completion = model.generate(student_messages, params)
            rows[name]["ms"].append((time.perf_counter() - started) * 1000)
            rows[name]["tokens"].append(completion.output_tokens)
            rows[name]["dom"].append(predicted_dominant(completion.text))
    _report(rows, refs, args)


def _report(
    rows: dict[str, dict[str, list[Any]]], refs: list[frozenset[str]], args: argparse.Namespace
) -> None:
    today = rows["today"]
    base = float(np.percentile(today["ms"], 50))
    print(f"student {args.student}, {len(refs)} held-out queries, {args.threads} threads")
    print(
        f"{'lever':<16} {'p50 ms':>8} {'p95 ms':>8} {'x today':>8} {'tokens':>7} {'dominant':>9} {'= today':>8}"
    )
    for name, row in rows.items():
        p50, p95 = np.percentile(row["ms"], [50, 95])
        acc = np.mean([d in ref for d, ref in zip(row["dom"], refs, strict=True)])
        same = np.mean([a == b for a, b in zip(row["dom"], today["dom"], strict=True)])
        print(
            f"{name:<16} {p50:8.0f} {p95:8.0f} {p50 / base:8.2f} {np.mean(row['tokens']):7.1f} "
            f"{acc:9.1%} {same:8.1%}"
        )


if __name__ == "__main__":
    main()
