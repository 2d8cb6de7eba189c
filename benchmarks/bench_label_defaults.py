"""`stillhouse label`'s default teacher against a plain llama-cpp-python loop with 4 fixed shots.

    python benchmarks/bench_label_defaults.py [--n 10] [--teacher qwen2.5-coder-1.5b]

Both answer the first ``--n`` hand-labelled dev queries of the video router (answers stripped):

- ``label defaults``: ``build_teacher(TeacherConfig(), golden, task)`` and ``label_records`` with
  ``LabelConfig()``, exactly what ``stillhouse label --task video-router`` runs with no other option
  (4 steered shots, all 4 the predicted modality's anchors, 1 sample, 512 answer tokens);
- ``plain llama.cpp``: ``llama_cpp.Llama`` on the same GGUF, ``create_chat_completion`` under the
  task's JSON schema with the same 4 golden examples (the first of each dominant modality) before
  every query, greedy, 512 tokens.

Each gets one untimed warm-up answer (weights paged in; the labelling path also loads its embedder
and embeds the steering pool then). Requests go to a temporary cache, so every answer is really
computed. Prints seconds per answer and routing accuracy (the answer's dominant modality against the
human label; an answer that never became valid counts as wrong). Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

MAX_TOKENS = 512  # LabelConfig's default, so both paths may write as much


def label_defaults(
    spec: str, dev: list, golden: list, task: Any, tmp: Path
) -> tuple[float, list[str | None]]:
    """Seconds per answer and the answers of ``stillhouse label``'s default teacher."""
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.teacher.build import TeacherConfig, build_teacher
    from stillhouse.teacher.golden import query_text
    from stillhouse.teacher.label import LabelConfig, label_records

    prompts = [r.model_copy(update={"messages": r.prompt_turns}) for r in dev]
    config = TeacherConfig(model=spec, cache=tmp / "cache.sqlite")
    with build_teacher(config, golden, task) as teacher:
        teacher.generate(task.messages("warm-up: drone shot of a beach"), task_params(task))
        summary = label_records(
            prompts, teacher, LabelConfig(progress=False), out_path=tmp / "labelled.jsonl"
        )
    answers = {query_text(r): r.answer for r in read_dataset(tmp / "labelled.jsonl", "none", "skip")[0]}
    return summary.seconds / len(dev), [answers.get(query_text(r)) for r in dev]


def task_params(task: Any) -> Any:
    from stillhouse.chat import GenerationParams

    return GenerationParams(max_tokens=MAX_TOKENS, temperature=0.0, json_schema=task.json_schema)


def fixed_shots(golden: list, task: Any, k: int = 4) -> list[dict[str, str]]:
    """The first golden example of each dominant modality, as user/assistant turns."""
    firsts: dict[str, Any] = {}
    for record in golden:
        cls = task.answer_class(record.answer or "")
        if cls is not None:
            firsts.setdefault(cls, record)
    turns = []
    for record in list(firsts.values())[:k]:
        turns += [
            {"role": "user", "content": record.messages[0].text},
            {"role": "assistant", "content": record.answer or ""},
        ]
    return turns


def plain_loop(spec: str, dev: list, golden: list, task: Any) -> tuple[float, list[str | None]]:
    """Seconds per answer and the answers of a plain llama-cpp-python loop with fixed shots."""
    from llama_cpp import Llama

    from stillhouse.models.llamacpp_load import default_threads
    from stillhouse.models.registry import resolve

    threads = default_threads()
    llm = Llama(
        model_path=str(resolve(spec).path),
        n_ctx=4096,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    head = [{"role": "system", "content": task.system_prompt}, *fixed_shots(golden, task)]

    def ask(query: str) -> str:
        reply = llm.create_chat_completion(
            messages=[*head, {"role": "user", "content": query}],
            max_tokens=MAX_TOKENS,
            temperature=0.0,
            response_format={"type": "json_object", "schema": task.json_schema},
        )
        return reply["choices"][0]["message"]["content"] or ""

    ask("warm-up: drone shot of a beach")
    started = time.perf_counter()
    answers: list[str | None] = [ask(r.messages[0].text) for r in dev]
    return (time.perf_counter() - started) / len(dev), answers


def routed(task: Any, dev: list, answers: list[str | None]) -> int:
    """How many answers name the human label's dominant modality."""
    return sum(
        a is not None
        and task.answer_class(a) is not None
        and task.answer_class(a) == task.answer_class(r.answer or "")
        for a, r in zip(answers, dev, strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10, help="hand-labelled dev queries")
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b", help="a GGUF catalog name or .gguf path")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_dev, load_golden

    task, dev, golden = get_task("video-router"), load_dev()[: args.n], load_golden()
    print(f"teacher {args.teacher}; {len(dev)} dev queries; {len(golden)} golden")
    print(f"{'path':<18}{'s/answer':>10}{'routed':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = {"label defaults": label_defaults(args.teacher, dev, golden, task, Path(tmp))}
        rows["plain llama.cpp"] = plain_loop(args.teacher, dev, golden, task)
    for name, (seconds, answers) in rows.items():
        print(f"{name:<18}{seconds:>10.2f}{routed(task, dev, answers):>7}/{len(dev)}", flush=True)
    ratio = rows["plain llama.cpp"][0] / max(rows["label defaults"][0], 1e-9)
    print(f"label defaults take {1 / ratio:.2f}x the plain loop's time per answer")


if __name__ == "__main__":
    main()
