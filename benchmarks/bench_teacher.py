"""Teacher labelling throughput: the default offline teacher on video-router prompts, cold and cached.

    python benchmarks/bench_teacher.py [--n 8] [--teacher qwen2.5-coder-1.5b] [--k 4] [--max-tokens 160]

Labels the first N queries of the router dev set (answers stripped) with golden few-shot retrieval
(all-MiniLM-L6-v2 over the hand-labelled golden set), JSON-schema decoding and renormalisation, into a
fresh request cache; then labels them again from that cache. Prints model load time, answers/min and
output tokens/s for both runs. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "stillhouse" / "tasks" / "video_router" / "data"


def load_prompts(path: Path, n: int) -> list:
    """The first ``n`` records of a labelled set with their answers removed (prompt-only)."""
    from stillhouse.sources.dataset import read_dataset

    records = read_dataset(path, "distillation", "report")[0][:n]
    return [r.model_copy(update={"messages": r.prompt_turns}) for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=8, help="prompts to label")
    parser.add_argument("--teacher", default="qwen2.5-coder-1.5b")
    parser.add_argument("--k", type=int, default=4, help="golden examples per prompt")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from stillhouse.models import load_model
    from stillhouse.models.embeddings import load_embedder
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks import get_task
    from stillhouse.teacher.build import TeacherConfig, build_teacher
    from stillhouse.teacher.label import LabelConfig, label_records

    prompts = load_prompts(DATA / "dev.jsonl", args.n)
    golden = read_dataset(DATA / "golden.jsonl", "distillation", "report")[0]
    started = time.perf_counter()
    teacher = load_model(args.teacher)
    load_s = time.perf_counter() - started
    embedder = load_embedder(args.embedder)
    task = get_task("video-router")
    print(
        f"teacher {teacher.name}: loaded in {load_s:.1f} s; {len(prompts)} prompts, {len(golden)} golden, k={args.k}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        # Unanchored, as these figures were first taken.
        config = TeacherConfig(shots=args.k, anchored=0, cache=Path(tmp) / "cache.sqlite")
        for run in ("cold", "cached"):
            with build_teacher(config, golden, task, model=teacher, embedder=embedder) as few_shot:
                summary = label_records(
                    prompts,
                    few_shot,
                    LabelConfig(max_tokens=args.max_tokens, progress=False),
                    out_path=Path(tmp) / f"{run}.jsonl",
                )
            seconds = max(summary.seconds, 1e-9)
            tokens = (
                f", {summary.output_tokens / seconds:.1f} output tokens/s "
                f"({summary.input_tokens} in / {summary.output_tokens} out tokens paid)"
                if summary.teacher_calls
                else " (no tokens generated)"
            )
            print(
                f"{run:>6}: {summary.labelled} labelled, {summary.failed} failed, {summary.teacher_calls} teacher calls, "
                f"{seconds:.2f} s -> {summary.labelled / seconds * 60:.1f} answers/min{tokens}"
            )


if __name__ == "__main__":
    main()
