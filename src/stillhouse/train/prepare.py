"""Everything a training run checks before it loads a weight: hyperparameters, data, lengths, output.

:func:`prepare` reads and tokenizes the records, plans every epoch's global batches from the seed
(the same on every rank of a distributed run: the plan never depends on the world size) and
fingerprints the run's inputs, so bad input fails in seconds rather than after minutes of loading.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillhouse.errors import ConflictError, InvalidInputError
from stillhouse.models.manifest import StudentFormat
from stillhouse.outputs import check_output_dir
from stillhouse.progress import note
from stillhouse.train import checkpoint, data, distributed, student, teacher_tokens, vision
from stillhouse.train.config import TrainConfig, TrainResult
from stillhouse.train.hparams import Hyperparameters, parse_hyperparameters


@dataclass
class Prepared:
    """Everything checked and tokenized before any weight is loaded."""

    hp: Hyperparameters
    student_dir: Path
    tokenizer: Any
    train: data.EncodedSet
    validation: data.EncodedSet | None
    fingerprint: dict[str, Any]
    data_order: list[list[list[int]]]
    total_steps: int


def prepare(config: TrainConfig, world_size: int = 1) -> Prepared:
    """Validate and tokenize everything; raise on bad input (a batch that does not split over
    ``world_size`` processes included) before any weights load."""
    check_output_dir(config.out, field="out")  # before minutes of loading, not after
    hp = parse_hyperparameters(config.hyperparameters, config.method)
    distributed.micro_batch_size(hp.batchSize, world_size, config.grad_accumulation)
    # Only a local folder can be a vision student (the catalog's are text models), so this needs no
    # resolution: bad data is still refused before a catalog student is converted.
    images = vision.is_vision_student(Path(config.student).expanduser())
    records, val_records = _read(config, images, hp.student_format())
    _check_out_dir(config)
    student_dir = student.resolve_student(config.student)
    note(f"tokenizing {len(records)} records for {student_dir.name}", enabled=config.progress)
    tokenizer = vision.load_processor(student_dir) if images else student.load_tokenizer(student_dir)
    max_length = config.max_length or student.context_length(student_dir)
    encode = dict(
        tokenizer=tokenizer,
        max_length=max_length,
        overflow=config.overflow,
        distributions=teacher_tokens.for_run(config.teacher_distributions, hp.distillationMethod),
        encoder=(lambda record: vision.encode_image_record(record, tokenizer)) if images else None,
    )
    train = data.encode_records(records, **encode)
    if encode["distributions"] is not None:
        teacher_tokens.check_coverage([e.teacher for e in train.examples])
    validation = data.encode_records(val_records, what="validation data", **encode) if val_records else None
    order = [
        data.plan_batches(train.lengths, hp.batchSize, seed=config.seed, epoch=e, batching=config.batching)
        for e in range(hp.epochCount)
    ]
    planned = sum(len(epoch) for epoch in order)
    total = min(planned, config.max_steps) if config.max_steps else planned
    return Prepared(
        hp, student_dir, tokenizer, train, validation, _fingerprint(config, hp, student_dir), order, total
    )


def _read(config: TrainConfig, images: bool, fmt: StudentFormat) -> tuple[list[Any], list[Any] | None]:
    """The training and validation records, in the task's student format as ``fmt`` shapes it."""
    note(f"reading {config.data}", enabled=config.progress)
    records = _student_format(config, data.training_records(config.data, images=images), fmt)
    if not config.validation:
        return records, None
    what = "validation data"
    return records, _student_format(
        config, data.training_records(config.validation, what=what, images=images), fmt
    )


def _student_format(config: TrainConfig, records: list[Any], fmt: StudentFormat) -> list[Any]:
    """The records in ``config.task``'s student format (unchanged without a task); a format
    setting for a run that trains in none is refused, not ignored."""
    from stillhouse.tasks import get_task
    from stillhouse.tasks.student import has_student_format, to_student_records

    task = get_task(config.task) if config.task is not None else None
    if fmt != StudentFormat() and (task is None or not has_student_format(task)):
        raise InvalidInputError(
            "studentReasoningChars shortens a task's student-format answers, and this run trains "
            f"in {'no task' if task is None else repr(task.name) + ' which has no student format'}",
            field="studentReasoningChars",
        )
    return records if task is None else to_student_records(task, records, fmt)


def _fingerprint(config: TrainConfig, hp: Hyperparameters, student_dir: Path) -> dict[str, Any]:
    """Every input that shapes the run's numbers; a checkpoint only resumes a run with the same."""
    return {
        "student": str(student_dir.resolve()),
        "data": checkpoint.file_sha256(config.data),
        "validation": checkpoint.file_sha256(config.validation) if config.validation else None,
        **(
            {"teacher": checkpoint.file_sha256(config.teacher_distributions)}
            if config.teacher_distributions and hp.distillationMethod != "sft"
            else {}
        ),
        "hyperparameters": hp.recorded(),
        "method": config.method,
        **config.model_dump(include={"seed", "max_length", "overflow", "batching", "max_steps", "task"}),
        "lora": [config.lora_r, config.lora_alpha, config.lora_dropout, list(config.lora_targets)]
        if config.method == "lora"
        else None,
    }


def finished_result(config: TrainConfig, prepared: Prepared) -> TrainResult | None:
    """A resume of a run that already completed: nothing is left to train, its model is in place."""
    done = checkpoint.finished_result(config.out, prepared.fingerprint) if config.resume else None
    if done is None:
        return None
    note(f"{config.out} holds a completed run; nothing left to train", enabled=config.progress)
    result = TrainResult.model_validate(done)
    return result.model_copy(update={"resumed_from_step": result.steps, "seconds": 0.0})


def _check_out_dir(config: TrainConfig) -> None:
    finished = checkpoint.finished_run(config.out) is not None
    if not config.resume and (finished or checkpoint.list_checkpoints(config.out)):
        raise ConflictError(
            f"{config.out} already holds a run; pass resume to continue it, or choose another output folder",
            field="out",
        )
