"""What each student-training lever buys the distilled generative router (SmolLM2-135M), measured.

    python benchmarks/bench_student.py [--train runs/demo/data/train-verified.jsonl] \
        [--teacher-refs runs/demo/data/heldout-teacher.jsonl] [--n 100] [--seed 0] [--only NAME ...]

The defaults are the files ``make demo`` writes (``--train runs/demo/data/train.jsonl`` gives the
labels before verification); without them it says so and skips.

Trains one student per variant on the same labelled file (golden pairs + teacher answers, as the
demo writes it), exports each to a q8_0 GGUF, and scores it on the first ``--n`` hand-labelled dev
queries (the demo's held-out set) under the task's schema, through ``load_model`` exactly as
``stillhouse evaluate`` and the server load a published student. Prints the rubric mean, MAE,
dominant accuracy, JSON validity and latency against the human labels, and the rubric against the
teacher's own answers when ``--teacher-refs`` is given. Roughly 10-15 minutes of CPU per variant on
2 cores; figures only, nothing is asserted.

Variants (Bedrock's caps apply: epochCount ≤ 5, learningRate ≤ 1e-4):

- ``lora-r8``          the earlier default: rank-8 LoRA (alpha 16), task prompt, weights first
- ``lora-student-r8``  the same LoRA in the student format: what a ``stillhouse jobs`` run on the
                       router's records trains (a job's method is LoRA; the format follows its records)
- ``full-student-b8``  full fine-tuning in the student format (24-token prompt; route, reasoning, weights),
                       4 epochs at batch 8 (the demo's default)
- ``full-student-b4``  the same, 5 epochs at batch 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DEMO_DATA = Path("runs/demo/data")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    method: str
    task: str | None
    hyperparameters: dict[str, str]
    lora_r: int = 8
    lora_alpha: int = 16


VARIANTS = [
    Variant(
        name="lora-r8",
        method="lora",
        task=None,
        hyperparameters={"epochCount": "2", "learningRate": "0.0001", "batchSize": "8"},
    ),
    Variant(
        name="lora-student-r8",
        method="lora",
        task="video-router",
        hyperparameters={"epochCount": "2", "learningRate": "0.0001", "batchSize": "8"},
    ),
    Variant(
        name="full-student-b8",
        method="full",
        task="video-router",
        hyperparameters={"epochCount": "4", "learningRate": "0.0001", "batchSize": "8"},
    ),
    Variant(
        name="full-student-b4",
        method="full",
        task="video-router",
        hyperparameters={"epochCount": "5", "learningRate": "0.0001", "batchSize": "4"},
    ),
]


def train_and_publish(variant: Variant, train: Path, work: Path, seed: int = 0) -> tuple[Path, float]:
    """Train ``variant``; return its published folder (model + model.gguf) and training seconds."""
    from stillhouse.train import TrainConfig, run_training
    from stillhouse.train.publish import PublishConfig, publish_student

    started = time.perf_counter()
    result = run_training(
        TrainConfig(
            student="smollm2-135m",
            data=train,
            out=work / variant.name,
            task=variant.task,
            method=variant.method,  # type: ignore[arg-type]
            hyperparameters=variant.hyperparameters,
            lora_r=variant.lora_r,
            lora_alpha=variant.lora_alpha,
            max_length=512,
            overflow="truncate",
            seed=seed,
        )
    )
    seconds = time.perf_counter() - started
    published = publish_student(
        result.model_dir, work / f"{variant.name}-published", PublishConfig(base="smollm2-135m")
    )
    return published, seconds


def evaluate(folder: Path, heldout: list, teacher_refs: dict[str, str]) -> dict:
    """Scores of the published student against the human labels and the teacher's answers."""
    from stillhouse.evaluate import default_params, evaluate_models
    from stillhouse.evaluate.run import rescore
    from stillhouse.models import load_model
    from stillhouse.tasks import get_task

    task = get_task("video-router")
    models = {"student": load_model(str(folder))}
    human = evaluate_models(task, heldout, models, params=default_params(task, max_tokens=128), warmup=1)
    out = {"vs_human": human.summary()["student"]}
    refs = {
        ex.index: teacher_refs[ex.query]
        for ex in human.models["student"].examples
        if ex.query in teacher_refs
    }
    if refs:
        out["vs_teacher"] = rescore(task, human, refs).summary()["student"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--train", type=Path, default=DEMO_DATA / "train-verified.jsonl", help="labelled JSONL"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed (the demo's is 0)")
    parser.add_argument(
        "--teacher-refs", type=Path, default=DEMO_DATA / "heldout-teacher.jsonl", help="teacher's answers"
    )
    parser.add_argument("--n", type=int, default=100, help="held-out dev queries")
    parser.add_argument("--only", nargs="*", default=None, help="variants whose name contains one of these")
    args = parser.parse_args()
    if not args.train.is_file():
        print(f"no labelled training file at {args.train}: run `make demo` first (or pass --train)")
        return

    from stillhouse.sources.dataset import read_dataset
    from stillhouse.tasks.video_router.golden import load_dev

    heldout = load_dev()[: args.n]
    teacher_refs = (
        {r.messages[0].text: r.answer or "" for r in read_dataset(args.teacher_refs, "none", "skip")[0]}
        if args.teacher_refs and args.teacher_refs.is_file()
        else {}
    )
    variants = [v for v in VARIANTS if not args.only or any(o in v.name for o in args.only)]
    print(
        f"{'variant':<18}{'train s':>8}{'rubric':>8}{'MAE':>7}{'dominant':>9}{'valid':>7}{'p50 ms':>8}{'vs teacher':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            folder, seconds = train_and_publish(variant, args.train, Path(tmp), args.seed)
            scores = evaluate(folder, heldout, teacher_refs)
            h, t = scores["vs_human"], scores.get("vs_teacher")
            print(
                f"{variant.name:<18}{seconds:>8.0f}{h['rubric_mean']:>8.2f}{h['weight_mae'] or 0:>7.3f}"
                f"{h['dominant_accuracy']:>9.0%}{h['validity']:>7.0%}{h['p50_ms']:>8.0f}"
                f"{t['rubric_mean'] if t else float('nan'):>11.2f}",
                flush=True,
            )
            row = {
                "variant": variant.name,
                "seed": args.seed,
                "train": str(args.train),
                "train_seconds": seconds,
            }
            print(json.dumps(row | scores, default=str))


if __name__ == "__main__":
    main()
