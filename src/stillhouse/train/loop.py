"""THE training loop: one supervised fine-tuning loop for every method and loss.

:func:`run_training` first does everything that can fail on bad input (hyperparameters, dataset,
tokenization and context length, output folder) and only then loads weights and trains. Each step
is deterministic given the seed; checkpoints carry everything needed for a resumed run to end with
the same losses as an uninterrupted one. A first Ctrl-C, or ``should_stop()`` returning true, ends
the run cleanly after the current step with a checkpoint; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillhouse.errors import ConflictError, JobStoppedError
from stillhouse.outputs import check_output_dir
from stillhouse.progress import note
from stillhouse.train import artifacts, checkpoint, data, export, student, teacher_tokens, vision
from stillhouse.train.checkpoint import CheckpointState, MetricRow
from stillhouse.train.config import TrainConfig, TrainResult
from stillhouse.train.hparams import Hyperparameters, lr_factor, parse_hyperparameters
from stillhouse.train.kd import loss_for
from stillhouse.train.losses import LossFn
from stillhouse.train.stop import StopSignal

MAX_GRAD_NORM = 1.0


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


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint."""

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


def run_training(
    config: TrainConfig,
    *,
    should_stop: Callable[[], bool] | None = None,
    loss_fn: LossFn | None = None,
) -> TrainResult:
    """Fine-tune ``config.student`` on ``config.data`` and export a loadable model directory.

    Raises :class:`~stillhouse.errors.InvalidInputError` (bad hyperparameter, dataset or length)
    before training, :class:`~stillhouse.errors.ConflictError` when ``out`` holds another run, and
    :class:`~stillhouse.errors.JobStoppedError` (or ``KeyboardInterrupt`` for Ctrl-C) after saving a
    checkpoint when stopped; rerun with ``resume=True`` to continue. ``loss_fn`` defaults to the
    loss the hyperparameters' ``distillationMethod`` names (:func:`stillhouse.train.kd.loss_for`).
    """
    import torch

    started = time.monotonic()
    prepared = prepare(config)
    done = _finished(config, prepared)
    if done is not None:
        return done
    threads_before = torch.get_num_threads()
    torch.set_num_threads(student.cpu_threads(config.threads))
    try:
        torch.manual_seed(config.seed)
        run = Run.start(config, prepared, loss_fn or loss_for(prepared.hp))
        stop = StopSignal(should_stop)
        with stop.catching_ctrl_c():
            run.train(stop)
        run.finish_validation()
        run.save()  # until the export is written, a crash can still resume from here
        result = run.export(time.monotonic() - started)
        checkpoint.finish(
            config.out, prepared.fingerprint, result.model_dump(mode="json"), retain=config.retain_checkpoints
        )
        return result
    finally:
        torch.set_num_threads(threads_before)


def prepare(config: TrainConfig) -> Prepared:
    """Validate and tokenize everything; raise on bad input before any weights load."""
    check_output_dir(config.out, field="out")  # before minutes of loading, not after
    hp = parse_hyperparameters(config.hyperparameters, config.method)
    # Only a local folder can be a vision student (the catalog's are text models), so this needs no
    # resolution: bad data is still refused before a catalog student is converted.
    images = vision.is_vision_student(Path(config.student).expanduser())
    note(f"reading {config.data}", enabled=config.progress)
    records = _student_format(config, data.training_records(config.data, images=images))
    val_records = (
        _student_format(
            config, data.training_records(config.validation, what="validation data", images=images)
        )
        if config.validation
        else None
    )
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


def _student_format(config: TrainConfig, records: list[Any]) -> list[Any]:
    """The records in ``config.task``'s student format (unchanged without a task)."""
    if config.task is None:
        return records
    from stillhouse.tasks import get_task
    from stillhouse.tasks.student import to_student_records

    return to_student_records(get_task(config.task), records)


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


def _finished(config: TrainConfig, prepared: Prepared) -> TrainResult | None:
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


@dataclass
class Run:
    """A run in progress: the model, its optimizer and schedule, and where it stands."""

    config: TrainConfig
    prepared: Prepared
    model: Any
    optimizer: Any
    scheduler: Any
    loss_fn: LossFn
    progress: Progress

    @classmethod
    def start(cls, config: TrainConfig, prepared: Prepared, loss_fn: LossFn) -> Run:
        """Load the student, set up AdamW and the LR schedule, and resume if asked."""
        import torch

        note(f"loading {prepared.student_dir} ({config.method})", enabled=config.progress)
        model = student.build_model(prepared.student_dir, config)
        params = list(student.trainable_parameters(model).values())
        optimizer = torch.optim.AdamW(params, lr=prepared.hp.learningRate, weight_decay=0.0)
        warmup, total = prepared.hp.learningRateWarmupSteps, prepared.total_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
        run = cls(config, prepared, model, optimizer, scheduler, loss_fn, Progress())
        if config.resume:
            run.resume()
        return run

    @property
    def pad_id(self) -> int:
        return student.pad_id(self.prepared.tokenizer)

    def resume(self) -> None:
        """Restore the latest checkpoint (a resume with none starts afresh)."""
        import torch

        found = checkpoint.list_checkpoints(self.config.out)
        if not found:
            return
        state, tensors = checkpoint.load_checkpoint(found[-1])
        checkpoint.check_fingerprint(state.fingerprint, self.prepared.fingerprint, found[-1])
        if set(tensors["model"]) != set(student.trainable_parameters(self.model)):
            raise ConflictError(f"checkpoint {found[-1]} does not match the model's weights", field="resume")
        self.model.load_state_dict(tensors["model"], strict=False)
        self.optimizer.load_state_dict(tensors["optimizer"])
        self.scheduler.load_state_dict(tensors["scheduler"])
        torch.set_rng_state(tensors["rng"])
        self.prepared.data_order = state.data_order  # the order the run began with
        self.progress = Progress(
            step=state.step,
            training=list(state.training),
            validation=list(state.validation),
            trained_tokens=state.trained_tokens,
            padded_tokens=state.padded_tokens,
            train_seconds=state.train_seconds,
            train_cpu_seconds=state.train_cpu_seconds,
            resumed_from=state.step,
        )

    def schedule(self) -> list[tuple[int, list[int]]]:
        """Every step of the run as ``(epoch index, example indices)``."""
        flat = [(e, batch) for e, batches in enumerate(self.prepared.data_order) for batch in batches]
        return flat[: self.prepared.total_steps]

    def train(self, stop: StopSignal) -> None:
        """Run the remaining steps; validate at epoch ends; checkpoint; stop cleanly when asked."""
        from stillhouse.progress import progress_bar

        schedule, progress, epochs = self.schedule(), self.progress, len(self.prepared.data_order)
        self.model.train()
        self.write_metrics()
        with progress_bar("training", len(schedule), disable=not self.config.progress) as (bar, task):
            bar.reset(task, total=len(schedule), completed=progress.step)
            while progress.step < len(schedule):
                epoch, indices = schedule[progress.step]
                loss = self.step(
                    data.collate([self.prepared.train.examples[i] for i in indices], self.pad_id)
                )
                progress.step += 1
                progress.training.append(MetricRow(step=progress.step, epoch=epoch + 1, loss=loss))
                artifacts.append_metric(self.config.out / artifacts.TRAINING_CSV, progress.training[-1])
                bar.update(task, completed=progress.step, info=_info(progress, epoch, epochs))
                last = progress.step == len(schedule)
                if (last or schedule[progress.step][0] != epoch) and self.prepared.validation:
                    self.validate()
                    self.write_metrics()
                if progress.step % self.config.checkpoint_every == 0:
                    self.save()
                if not last and stop.requested():
                    self.stop(stop)

    def step(self, batch: dict[str, Any]) -> float:
        """One optimizer step on one batch; returns the loss and counts tokens and time."""
        import torch

        began, began_cpu = time.perf_counter(), time.process_time()
        loss = _forward_loss(self.model, batch, self.loss_fn)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.trainable_parameters(self.model).values(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.progress.train_seconds += time.perf_counter() - began
        self.progress.train_cpu_seconds += time.process_time() - began_cpu
        self.progress.trained_tokens += int(batch["attention_mask"].sum())
        self.progress.padded_tokens += int(batch["attention_mask"].numel())
        return float(loss.detach())

    def stop(self, stop: StopSignal) -> None:
        """Checkpoint, then end the run with the exception that says why."""
        path = self.save()
        step, total = self.progress.step, self.prepared.total_steps
        if stop.interrupted:
            raise KeyboardInterrupt(f"training interrupted at step {step} of {total}; checkpoint {path}")
        raise JobStoppedError(
            f"training stopped at step {step} of {total}; checkpoint {path}; resume to continue"
        )

    def validate(self) -> None:
        """Loss on the validation set, weighted by assistant tokens, recorded at the current step."""
        import torch

        examples = self.prepared.validation.examples if self.prepared.validation else []
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
        size, total, count = self.prepared.hp.batchSize, 0.0, 0
        self.model.eval()
        with torch.no_grad():
            for start in range(0, len(order), size):
                batch = data.collate([examples[i] for i in order[start : start + size]], self.pad_id)
                n = int(batch["targets"].numel())
                total += float(_forward_loss(self.model, batch, self.loss_fn)) * n
                count += n
        self.model.train()
        epoch = self.progress.training[-1].epoch if self.progress.training else 1
        self.progress.validation.append(
            MetricRow(step=self.progress.step, epoch=epoch, loss=total / max(count, 1))
        )

    def finish_validation(self) -> None:
        """A validation loss for the final weights, even when a resumed run had nothing left to do."""
        done = self.progress.validation and self.progress.validation[-1].step == self.progress.step
        if self.prepared.validation is not None and not done:
            self.validate()
            self.write_metrics()

    def write_metrics(self) -> None:
        out, progress = self.config.out, self.progress
        artifacts.write_metrics(out / artifacts.TRAINING_CSV, progress.training, "training_loss")
        if progress.validation:
            artifacts.write_metrics(out / artifacts.VALIDATION_CSV, progress.validation, "validation_loss")

    def save(self) -> Path:
        """Checkpoint the run as it stands (once per step: a stop right after a periodic save reuses it)."""
        import torch

        latest = checkpoint.list_checkpoints(self.config.out)
        if latest and latest[-1].name == checkpoint.step_name(self.progress.step):
            return latest[-1]
        progress = self.progress
        state = CheckpointState(
            step=progress.step,
            fingerprint=self.prepared.fingerprint,
            data_order=self.prepared.data_order,
            training=progress.training,
            validation=progress.validation,
            trained_tokens=progress.trained_tokens,
            padded_tokens=progress.padded_tokens,
            train_seconds=progress.train_seconds,
            train_cpu_seconds=progress.train_cpu_seconds,
        )
        tensors = {
            "model": {k: v.detach() for k, v in student.trainable_parameters(self.model).items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": torch.get_rng_state(),
        }
        return checkpoint.save_checkpoint(self.config.out, state, tensors, keep=self.config.keep_checkpoints)

    def export(self, seconds: float) -> TrainResult:
        """Write the model directory, CSVs and loss curve; summarise the run."""
        config, prepared, progress = self.config, self.prepared, self.progress
        note(f"writing the model to {config.out}", enabled=config.progress)
        model_dir, adapter_dir = export.export_model(
            self.model, prepared.tokenizer, config.out, method=config.method, merge=config.merge
        )
        if config.task is not None:
            from stillhouse.models.manifest import write_manifest
            from stillhouse.tasks import get_task

            write_manifest(model_dir, get_task(config.task).name)
        self.write_metrics()
        curve = artifacts.plot_loss_curve(
            config.out / artifacts.LOSS_CURVE, progress.training, progress.validation
        )
        return TrainResult(
            out_dir=config.out,
            model_dir=model_dir,
            adapter_dir=adapter_dir,
            metrics_csv=config.out / artifacts.TRAINING_CSV,
            validation_csv=config.out / artifacts.VALIDATION_CSV if progress.validation else None,
            loss_curve=curve,
            steps=progress.step,
            epochs=prepared.hp.epochCount,
            records=len(prepared.train.examples),
            dropped_records=prepared.train.dropped,
            truncated_records=prepared.train.truncated,
            final_training_loss=progress.training[-1].loss if progress.training else float("nan"),
            validation_loss=progress.validation[-1].loss if progress.validation else None,
            trained_tokens=progress.trained_tokens,
            padded_tokens=progress.padded_tokens,
            tokens_per_second=progress.tokens_per_second,
            seconds=seconds,
            train_seconds=progress.train_seconds,
            train_cpu_seconds=progress.train_cpu_seconds,
            resumed_from_step=progress.resumed_from,
            hyperparameters=prepared.hp.recorded(),
        )


def _forward_loss(model: Any, batch: dict[str, Any], loss_fn: LossFn) -> Any:
    """Logits only at the positions that carry a loss (saves the vocabulary projection elsewhere)."""
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        logits_to_keep=batch["loss_mask"],
        use_cache=False,
        **batch.get("extras", {}),
    )
    logits = out.logits
    if logits.dim() == 3:  # a model that ignores logits_to_keep returns every position
        logits = logits[batch["loss_mask"]]
    return loss_fn(logits, batch["targets"], batch)


def _info(progress: Progress, epoch: int, epochs: int) -> str:
    loss = progress.training[-1].loss
    return f"epoch {epoch + 1}/{epochs} · loss {loss:.4f} · {progress.tokens_per_second:,.0f} tok/s"
