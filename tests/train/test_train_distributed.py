"""Training across processes: the sampler's shards, the split check, and 2-rank gloo runs of the tiny
Llama against a single process with the same global batch (losses, resume across world sizes, one
metrics writer)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError, JobStoppedError
from stillhouse.train import TrainConfig, TrainResult, run_training
from stillhouse.train.distributed import micro_batch_size, rank_micro_batches
from stillhouse.train.launch import run_training_processes

from .router_records import write_router_records

# 14 records in batches of 4: the epoch's last batch holds 2, so at 2 ranks x 2 micro-batches
# some slots are empty and still take part in the all-reduce.
HP = {"epochCount": "1", "batchSize": "4", "learningRateWarmupSteps": "0", "learningRate": "1e-4"}


@pytest.mark.parametrize(
    ("size", "world", "accumulation"), [(4, 2, 1), (4, 2, 2), (2, 2, 2), (3, 2, 2), (8, 4, 2), (1, 1, 1)]
)
def test_ranks_share_a_global_batch_once_in_balanced_contiguous_slots(
    size: int, world: int, accumulation: int
) -> None:
    batch = list(range(100, 100 + size))
    shares = [
        rank_micro_batches(batch, rank=r, world_size=world, accumulation=accumulation) for r in range(world)
    ]
    assert all(len(parts) == accumulation for parts in shares)
    slots = [part for parts in shares for part in parts]
    assert [i for part in slots for i in part] == batch  # every record once, in the batch's order
    assert max(map(len, slots)) - min(map(len, slots)) <= 1


def test_the_micro_batch_times_accumulation_times_world_size_is_the_batch_size() -> None:
    assert micro_batch_size(8, 2, 2) == 2
    assert micro_batch_size(4, 1, 1) == 4
    with pytest.raises(InvalidInputError, match="batchSize 4 does not split over 3 process") as caught:
        micro_batch_size(4, 3, 1)
    assert caught.value.field == "batchSize"
    with pytest.raises(InvalidInputError, match="2 gradient-accumulation"):
        micro_batch_size(4, 4, 2)


def _config(student: Path, data: Path, out: Path, **overrides: object) -> TrainConfig:
    base: dict[str, object] = dict(
        student=str(student), data=data, out=out, hyperparameters=HP, progress=False, threads=2
    )
    return TrainConfig(**{**base, **overrides})


def _losses(result: TrainResult) -> list[float]:
    with open(result.metrics_csv, newline="") as handle:
        return [float(row["training_loss"]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ddp-data")
    return write_router_records(folder / "train.jsonl", 14, seed=3), write_router_records(
        folder / "val.jsonl", 5, seed=9
    )


@pytest.fixture(scope="module")
def single(tiny_student: Path, inputs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """The reference: one process, whole batches of 4."""
    train, val = inputs
    return run_training(_config(tiny_student, train, tmp_path_factory.mktemp("single"), validation=val))


def _torchrun(args: list[str], port: int) -> subprocess.CompletedProcess[str]:
    """``torchrun --nproc-per-node 2 -m stillhouse ARGS`` on loopback, with this checkout's package."""
    import stillhouse

    source = str(Path(stillhouse.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")]))}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    launcher += ["--master-addr", "127.0.0.1", "--master-port", str(port)]
    return subprocess.run(
        [*launcher, "-m", "stillhouse", *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.model
def test_a_two_process_torchrun_equals_one_process_with_the_same_global_batch(
    tiny_student: Path, inputs: tuple[Path, Path], tmp_path: Path, single: TrainResult
) -> None:
    from tests.serve.helpers import free_port

    train, val = inputs
    args = ["train", "--student", str(tiny_student), "--data", str(train), "--validation", str(val)]
    args += ["--out", str(tmp_path / "ddp"), "--grad-accumulation", "2", "--json"]
    args += [f"--hp={key}={value}" for key, value in HP.items()]
    ran = _torchrun(args, free_port())
    assert ran.returncode == 0, ran.stderr[-3000:]
    double = TrainResult.model_validate_json(ran.stdout)  # rank 0 alone prints: one JSON object
    assert double.steps == single.steps == 4
    assert _losses(double) == pytest.approx(_losses(single), abs=1e-4)
    assert double.validation_loss == pytest.approx(single.validation_loss, abs=1e-4)
    assert double.trained_tokens == single.trained_tokens  # every record once, none repeated
    # Rank 0 alone writes the metrics: one header, one row per step.
    lines = double.metrics_csv.read_text().splitlines()
    assert lines[0] == "step_number,epoch_number,training_loss,perplexity"
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4"]
    assert (double.model_dir / "config.json").is_file()


@pytest.mark.model
def test_a_checkpoint_resumes_on_another_world_size_where_it_stopped(
    tiny_student: Path, inputs: tuple[Path, Path], tmp_path: Path, single: TrainResult
) -> None:
    train, val = inputs
    out = tmp_path / "out"
    with pytest.raises(JobStoppedError, match="stopped at step 1 of 4"):  # world size 2 stops after step 1
        run_training_processes(_config(tiny_student, train, out, validation=val), 2, should_stop=lambda: True)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000001"]
    with pytest.raises(JobStoppedError, match="stopped at step 2 of 4"):  # world size 1, one step more
        run_training(_config(tiny_student, train, out, validation=val, resume=True), should_stop=lambda: True)
    resumed = run_training_processes(_config(tiny_student, train, out, validation=val, resume=True), 2)
    assert resumed.resumed_from_step == 2
    assert _losses(resumed) == pytest.approx(_losses(single), abs=1e-4)
    assert resumed.validation_loss == pytest.approx(single.validation_loss, abs=1e-4)


@pytest.mark.model
def test_a_world_size_that_does_not_split_the_batch_is_refused_before_any_process_starts(
    tiny_student: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "never"
    with pytest.raises(InvalidInputError, match="batchSize 4 does not split over 3 process"):
        run_training_processes(_config(tiny_student, inputs[0], out), 3)
    with pytest.raises(InvalidInputError, match="does not split over 1 process"):
        run_training(_config(tiny_student, inputs[0], out, grad_accumulation=3))
    assert not out.exists()


def test_the_servers_train_processes_setting_is_read_from_its_environment(monkeypatch) -> None:
    from stillhouse.train.launch import PROCESSES_ENV, processes_from_env

    monkeypatch.delenv(PROCESSES_ENV, raising=False)
    assert processes_from_env() == 1
    monkeypatch.setenv(PROCESSES_ENV, "4")
    assert processes_from_env() == 4
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(PROCESSES_ENV, bad)
        with pytest.raises(InvalidInputError, match=PROCESSES_ENV):
            processes_from_env()


def test_a_rank_of_a_torchrun_launch_does_not_launch_processes_of_its_own(
    tiny_student: Path, inputs: tuple[Path, Path], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InvalidInputError, match="already one rank of a torchrun launch"):
        run_training_processes(_config(tiny_student, inputs[0], tmp_path / "out"), 2)
