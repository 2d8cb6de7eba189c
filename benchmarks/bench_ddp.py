"""Training steps/s at world size 1 against 2 (DDP, gloo) on this machine, same global batch.

For each student it trains the same few steps of the same global batches on one process and on two
(:func:`stillhouse.train.launch.run_training_processes`, each rank on cores / 2 threads), and prints
steps/s over the optimizer steps, CPU seconds per step (every rank's), and the whole call's wall time
(spawn, imports, model load and export included), with the load average before and after: on 2
shared cores two ranks cannot be faster, and the figures say by how much they are slower.

    python benchmarks/bench_ddp.py                               # tiny model and SmolLM2-135M LoRA
    python benchmarks/bench_ddp.py --students tiny --steps 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the training CLI sets it (benchmarks/README)


def _student(name: str, folder: Path) -> str:
    """The tiny random-weight Llama of the tests (built here), or a catalog student by name."""
    if name != "tiny":
        return name
    sys.path.insert(0, str(ROOT))
    from tests.train.conftest import build_tiny_student

    return str(build_tiny_student(folder / "tiny"))


def measure(student: str, processes: int, args: argparse.Namespace, folder: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests.train.router_records import write_router_records

    from stillhouse.train import TrainConfig
    from stillhouse.train.launch import run_training_processes

    out = folder / f"out-{Path(student).name}-{processes}"
    config = TrainConfig(
        student=student,
        data=write_router_records(folder / "train.jsonl", args.records, seed=0),
        out=out,
        max_steps=args.steps,
        hyperparameters={"batchSize": str(args.batch), "epochCount": "1", "learningRateWarmupSteps": "0"},
        progress=False,
    )
    began = time.monotonic()
    result = run_training_processes(config, processes)
    return {
        "student": Path(student).name,
        "processes": processes,
        "steps": result.steps,
        "steps_per_s": round(result.steps / result.train_seconds, 3),
        "cpu_s_per_step": round(result.train_cpu_seconds / result.steps, 2),
        "tokens_per_s": round(result.tokens_per_second, 1),
        "final_loss": round(result.final_training_loss, 5),
        "call_wall_s": round(time.monotonic() - began, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", default="tiny,smollm2-135m")
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average before: {os.getloadavg()}")
    keys = ["student", "processes", "steps", "steps_per_s", "cpu_s_per_step", "tokens_per_s", "final_loss"]
    print(" | ".join([*keys, "call_wall_s", "load_1min"]))
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as tmp:
        for name in args.students.split(","):
            student = _student(name, Path(tmp))
            for processes in (1, 2):
                row = measure(student, processes, args, Path(tmp))
                print(
                    " | ".join(str(row[k]) for k in [*keys, "call_wall_s"]) + f" | {os.getloadavg()[0]:.1f}"
                )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
