"""What a training run is asked to do (:class:`TrainConfig`) and what it reports (:class:`TrainResult`).

Both are the boundary with the jobs service and the CLI, so they are strict pydantic models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.train.hparams import Method

# Attention and MLP projections: present under these names in Llama (SmolLM2), Qwen2.5 and Gemma 3.
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

Overflow = Literal["error", "truncate", "drop"]
Batching = Literal["bucketed", "random"]


class TrainConfig(BaseModel):
    """One supervised fine-tuning run of a student on labelled conversation records.

    ``student`` is a catalog name (``smollm2-135m``) or a local transformers model directory.
    ``hyperparameters`` are Bedrock-named strings (see :mod:`stillhouse.train.hparams`).
    ``max_length`` caps tokens per record (default: the student's context); a longer record is an
    error unless ``overflow`` says to ``truncate`` or ``drop`` it. ``batching="bucketed"`` groups
    records of similar length so little CPU time goes to padding; ``"random"`` is plain shuffled
    batches (kept for comparison). ``max_steps`` stops early (the schedule is planned for it).
    ``task`` trains in that task's student format (:mod:`stillhouse.tasks.student`): its records are
    rewritten to the compact student prompt and answer order, and the model folder gets a manifest so
    ``load_model`` serves it in the same format.
    """

    model_config = ConfigDict(extra="forbid")

    student: str
    data: Path
    out: Path
    task: str | None = None
    validation: Path | None = None
    # The teacher's top-k distributions of the answers in ``data`` (labelling writes them as
    # <labelled>.distributions.jsonl); what hyperparameter distillationMethod=kd|uld trains on.
    teacher_distributions: Path | None = None
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    method: Method = "lora"
    seed: int = 42
    checkpoint_every: int = Field(default=50, ge=1)
    keep_checkpoints: int = Field(default=1, ge=1)
    # A finished run's checkpoint is only good for resuming a run that has nothing left to do (it is
    # most of the output folder's size), so it is removed unless asked for.
    retain_checkpoints: bool = False
    max_length: int | None = Field(default=None, ge=8)
    overflow: Overflow = "error"
    batching: Batching = "bucketed"
    max_steps: int | None = Field(default=None, ge=1)
    # Micro-batches per process and step: a memory lever, not a hyperparameter. The global batch
    # stays batchSize whatever this and the world size are (stillhouse.train.distributed), so it is
    # not part of a run's fingerprint and a checkpoint resumes with any value.
    grad_accumulation: int = Field(default=1, ge=1)
    lora_r: int = Field(default=8, ge=1, le=256)
    lora_alpha: int = Field(default=16, ge=1)
    # No LoRA dropout by default: on CPU it costs a mask and a copy of the input for each of the 210
    # adapted projections of every step (benchmarks/README.md), and short distillation runs rarely
    # overfit.
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    resume: bool = False
    merge: bool = True
    # Compute threads of this machine (default: its cores), shared evenly by its training processes.
    threads: int | None = Field(default=None, ge=1)
    progress: bool = True


class TrainResult(BaseModel):
    """What a finished run produced and how fast it went."""

    model_config = ConfigDict(extra="forbid")

    out_dir: Path
    model_dir: Path
    adapter_dir: Path | None
    metrics_csv: Path
    validation_csv: Path | None
    loss_curve: Path
    steps: int
    epochs: int
    records: int
    dropped_records: int
    truncated_records: int
    final_training_loss: float
    validation_loss: float | None
    trained_tokens: int
    padded_tokens: int
    tokens_per_second: float
    seconds: float
    """Wall time of the whole call: checks, loading, training, export."""
    train_seconds: float
    """Wall time of the optimizer steps alone (what ``tokens_per_second`` divides by)."""
    train_cpu_seconds: float
    """CPU time (all threads) of the optimizer steps: a figure a busy, shared CPU distorts less."""
    resumed_from_step: int | None
    hyperparameters: dict[str, float | int | str]
