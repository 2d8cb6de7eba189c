"""Training throughput and peak memory of the one training loop on this CPU.

For each student setup it trains a few measured steps on 1,000 synthetic router records (in a fresh
subprocess, so each peak RSS is its own), then prints tokens/s and an *extrapolated* time per epoch:
the epoch's padded tokens (known exactly from the batch plan) divided by the padded tokens/s measured
over those steps. CPU seconds per step are printed too: on a shared machine they move less than wall
time. It also trains SmolLM2-135M LoRA with length-bucketed batches and with plain
shuffled batches (naive padding) side by side on records of mixed length, and prints the padding each plan costs over a whole
epoch. The shared CPU makes figures noisy: the load average is printed with them.

    python benchmarks/bench_train.py                      # all setups, 3 measured steps each
    python benchmarks/bench_train.py --steps 2 --setups smollm2-lora-mixed-bucketed,smollm2-lora-mixed-naive
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Same default as run_training; set here because this script imports torch (via prepare) first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# setup -> (student, method, batching, dataset). "mixed" stretches queries to 100-250 tokens: the
# plain router records are all ~100 tokens long, too uniform for bucketing to matter.
SETUPS = {
    "smollm2-lora": ("smollm2-135m", "lora", "bucketed", "router"),
    "smollm2-full": ("smollm2-135m", "full", "bucketed", "router"),
    "qwen0.5b-lora": ("qwen2.5-coder-0.5b", "lora", "bucketed", "router"),
    "smollm2-lora-mixed-bucketed": ("smollm2-135m", "lora", "bucketed", "mixed"),
    "smollm2-lora-mixed-naive": ("smollm2-135m", "lora", "random", "mixed"),
}
_DETAILS = [
    "filmed at night",
    "with a close-up of the faces",
    "in the rain",
    "shot on a phone",
    "near the sea",
    "with people laughing",
    "from the nineties",
    "with loud music",
    "in black and white",
    "slow pan",
]


def _router_file(folder: Path, count: int, dataset: str) -> Path:
    """The synthetic router records the tests use (tests/train/router_records.py), optionally stretched."""
    sys.path.insert(0, str(ROOT))
    from tests.train.router_records import router_records, write_jsonl

    records = router_records(count, seed=0)
    if dataset == "mixed":
        rng = random.Random(0)
        for record in records:
            turn = record["messages"][0]["content"][0]
            turn["text"] += ", " + ", ".join(rng.choice(_DETAILS) for _ in range(rng.randint(0, 24)))
    return write_jsonl(folder / "router.jsonl", records)


def child(setup: str, records: int, steps: int, batch: int, max_length: int) -> dict:
    """Train ``steps`` steps of one setup; return measured and extrapolated figures."""
    from stillhouse.train import TrainConfig, run_training
    from stillhouse.train.data import padded_size, plan_batches
    from stillhouse.train.prepare import prepare

    student, method, batching, dataset = SETUPS[setup]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        config = TrainConfig(
            student=student,
            data=_router_file(Path(tmp), records, dataset),
            out=Path(tmp) / "out",
            method=method,
            batching=batching,
            max_steps=steps,
            max_length=max_length,
            hyperparameters={"batchSize": str(batch), "epochCount": "1"},
            progress=False,
        )
        prepared = prepare(config)
        lengths = prepared.train.lengths
        plan = plan_batches(lengths, batch, seed=config.seed, epoch=0, batching=batching)
        result = run_training(config)
    padded_per_s = result.padded_tokens / result.train_seconds
    return {
        "setup": setup,
        "measured_steps": result.steps,
        "tokens_per_s": round(result.tokens_per_second, 1),
        "padded_tokens_per_s": round(padded_per_s, 1),
        "s_per_step": round(result.train_seconds / result.steps, 2),
        "cpu_s_per_step": round(result.train_cpu_seconds / result.steps, 2),
        "epoch_steps": len(plan),
        "epoch_real_tokens": sum(lengths),
        "epoch_padded_tokens": padded_size(lengths, plan),
        "epoch_s_extrapolated": round(padded_size(lengths, plan) / padded_per_s, 0),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 0),
        "run_s_incl_load_export": round(result.seconds, 1),
    }


def _run_child(setup: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        setup,
        "--records",
        str(args.records),
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
        "--max-length",
        str(args.max_length),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"setup": setup, "error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_table(rows: list[dict]) -> None:
    keys = [
        "setup",
        "tokens_per_s",
        "padded_tokens_per_s",
        "s_per_step",
        "cpu_s_per_step",
        "epoch_steps",
        "epoch_real_tokens",
        "epoch_padded_tokens",
        "epoch_s_extrapolated",
        "peak_rss_mb",
        "run_s_incl_load_export",
    ]
    print(" | ".join(keys))
    for row in rows:
        print(" | ".join(str(row.get(k, row.get("error", ""))) for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per setup")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.records, args.steps, args.batch, args.max_length)))
        return
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()}")
    started = time.monotonic()
    rows = [_run_child(setup, args) for setup in args.setups.split(",")]
    print(f"load average after: {os.getloadavg()}, wall {time.monotonic() - started:.0f} s")
    print(
        f"{args.records} router records, batchSize {args.batch}, {args.steps} measured steps per setup; "
        "epoch_s_extrapolated = epoch padded tokens / measured padded tokens per s"
    )
    _print_table(rows)
    by = {r["setup"]: r for r in rows if "error" not in r}
    if "smollm2-lora-mixed-bucketed" in by and "smollm2-lora-mixed-naive" in by:
        b, n = by["smollm2-lora-mixed-bucketed"], by["smollm2-lora-mixed-naive"]
        print(
            f"bucketing vs naive padding (SmolLM2 LoRA, mixed lengths, one epoch): padded tokens {b['epoch_padded_tokens']} vs "
            f"{n['epoch_padded_tokens']} ({n['epoch_padded_tokens'] / b['epoch_padded_tokens']:.2f}x); "
            f"extrapolated epoch {b['epoch_s_extrapolated']} s vs {n['epoch_s_extrapolated']} s"
        )
        fixed = b["epoch_steps"] * args.batch * args.max_length
        print(f"(padding every record to max_length={args.max_length} instead would feed {fixed} tokens)")


if __name__ == "__main__":
    main()
