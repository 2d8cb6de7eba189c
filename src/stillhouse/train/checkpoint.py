"""Resumable checkpoints: trainable weights, optimizer, scheduler, RNG, step, metrics and data order.

A checkpoint is a folder ``checkpoints/step-000050/`` written under a temporary name and renamed
into place, so a crash mid-write never leaves a half checkpoint that ``--resume`` would pick up.
Only the trainable tensors are saved (the LoRA adapter, or every weight for full fine-tuning): the
frozen base is reloaded from the student directory. The run's *fingerprint* (student, data hashes,
hyperparameters, seed...) is stored too, so resuming with different inputs is refused instead of
silently mixing two runs.

Nothing in a checkpoint depends on how many processes wrote it: the weights and optimizer state are
the same on every rank (gradients are all-reduced before each step), the step counts global batches,
and the random state of each micro-batch is derived from the seed, the step and its slot of the
batch (:mod:`stillhouse.train.loop`) rather than saved, so a run written at one world size resumes
at another exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import ConflictError, CorruptModelError

_NAME = re.compile(r"^step-(\d{6,})$")


class MetricRow(BaseModel):
    """One row of a metrics CSV."""

    model_config = ConfigDict(extra="forbid")

    step: int
    epoch: int
    loss: float


class CheckpointState(BaseModel):
    """The JSON side of a checkpoint: where the run stands and how it got there."""

    model_config = ConfigDict(extra="forbid")

    step: int
    fingerprint: dict[str, Any]
    data_order: list[list[list[int]]]
    training: list[MetricRow]
    validation: list[MetricRow]
    trained_tokens: int
    padded_tokens: int
    train_seconds: float
    train_cpu_seconds: float = 0.0


@dataclass
class Progress:
    """Where a run stands (the JSON side of its checkpoint, plus where this process resumed from)."""

    step: int = 0
    training: list[MetricRow] = field(default_factory=list)
    validation: list[MetricRow] = field(default_factory=list)
    trained_tokens: int = 0
    padded_tokens: int = 0
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0
    resumed_from: int | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.trained_tokens / self.train_seconds if self.train_seconds else 0.0

    def state(self, fingerprint: dict[str, Any], data_order: list[list[list[int]]]) -> CheckpointState:
        return CheckpointState(
            step=self.step,
            fingerprint=fingerprint,
            data_order=data_order,
            training=self.training,
            validation=self.validation,
            trained_tokens=self.trained_tokens,
            padded_tokens=self.padded_tokens,
            train_seconds=self.train_seconds,
            train_cpu_seconds=self.train_cpu_seconds,
        )

    @classmethod
    def resumed(cls, state: CheckpointState) -> Progress:
        return cls(
            **state.model_dump(exclude={"fingerprint", "data_order", "training", "validation"}),
            training=list(state.training),
            validation=list(state.validation),
            resumed_from=state.step,
        )


def file_sha256(path: Path) -> str:
    """Content hash of a data file (part of the run fingerprint)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def step_name(step: int) -> str:
    """Folder name of the checkpoint taken after ``step`` steps."""
    return f"step-{step:06d}"


def checkpoint_root(out: Path) -> Path:
    return Path(out) / "checkpoints"


def list_checkpoints(out: Path) -> list[Path]:
    """Complete checkpoints under ``out``, oldest first."""
    root = checkpoint_root(out)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _NAME.match(p.name) and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def save_checkpoint(out: Path, state: CheckpointState, tensors: dict[str, Any], *, keep: int) -> Path:
    """Write ``tensors`` (model, optimizer, scheduler, RNG) and ``state`` atomically; prune old ones."""
    import torch

    root = checkpoint_root(out)
    root.mkdir(parents=True, exist_ok=True)
    final = root / step_name(state.step)
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(tensors, tmp / "tensors.pt")
    (tmp / "state.json").write_text(state.model_dump_json())
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in list_checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


FINISHED = "finished.json"


class FinishedRun(BaseModel):
    """What a completed run leaves in place of its checkpoints: enough to answer a resume of it."""

    model_config = ConfigDict(extra="forbid")

    fingerprint: dict[str, Any]
    result: dict[str, Any]


def finish(out: Path, fingerprint: dict[str, Any], result: dict[str, Any], *, retain: bool) -> None:
    """Record the completed run and delete its checkpoints (most of the folder's size) unless ``retain``.

    Only a resume of a run with steps left needs a checkpoint; a resume of this one is answered from
    the record (see :func:`finished_run`).
    """
    root = checkpoint_root(out)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{FINISHED}.tmp"
    tmp.write_text(FinishedRun(fingerprint=fingerprint, result=result).model_dump_json())
    os.replace(tmp, root / FINISHED)
    if not retain:
        for folder in list_checkpoints(out):
            shutil.rmtree(folder, ignore_errors=True)


def finished_result(out: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
    """The result of the completed run in ``out`` (``None`` if there is none), if made from the same
    inputs and its model is still there."""
    record = finished_run(out)
    if record is None:
        return None
    check_fingerprint(record.fingerprint, fingerprint, checkpoint_root(out) / FINISHED)
    model_dir = Path(record.result["model_dir"])
    if not model_dir.is_dir():
        raise ConflictError(
            f"the run in {out} completed but its model {model_dir} is gone; train into another folder",
            field="resume",
        )
    return record.result


def finished_run(out: Path) -> FinishedRun | None:
    """The record of a completed run in ``out``, if there is one."""
    path = checkpoint_root(out) / FINISHED
    if not path.is_file():
        return None
    try:
        return FinishedRun.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise CorruptModelError(f"{path} is unreadable: {exc}", field="resume") from exc


def load_checkpoint(path: Path) -> tuple[CheckpointState, dict[str, Any]]:
    """Read a checkpoint folder back (tensors stay on CPU)."""
    import torch

    try:
        state = CheckpointState.model_validate_json((path / "state.json").read_text())
        tensors = torch.load(path / "tensors.pt", map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise CorruptModelError(f"checkpoint {path} is unreadable: {exc}", field="resume") from exc
    return state, tensors


def check_fingerprint(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """Refuse to resume a checkpoint made from different inputs, naming what changed."""
    changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if changed:
        raise ConflictError(
            f"checkpoint {where} was made with different {', '.join(changed)}; "
            "use the same inputs to resume, or another --out for a new run",
            field="resume",
        )
