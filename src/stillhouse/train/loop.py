"""THE training loop: one supervised fine-tuning loop for every method and loss, on one process or many.

:func:`run_training` first does everything that can fail on bad input (hyperparameters, dataset,
tokenization and context length, output folder: :mod:`stillhouse.train.prepare`) and only then loads
weights and trains. Each step is deterministic given the seed; checkpoints carry everything needed
for a resumed run to end with the same losses as an uninterrupted one. A first Ctrl-C, or
``should_stop()`` returning true, ends the run cleanly after the current step with a checkpoint; a
second Ctrl-C aborts at once.

Under torchrun (or :mod:`stillhouse.train.launch`) every process runs this same loop under
DistributedDataParallel: each trains its share of every global batch (:mod:`stillhouse.train.distributed`),
gradients are all-reduced, and rank 0 alone writes the metrics CSVs, checkpoints and the model.
Each micro-batch's loss is weighted by its share of the global batch's loss tokens, so a split batch
takes the step a single process takes on the whole batch (exactly so for a loss that is a mean over
loss tokens, as cross-entropy is; a distillation loss whose divergence averages over the teacher's
positions is weighted by the same token counts).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stillhouse.errors import ConflictError, JobStoppedError
from stillhouse.progress import note
from stillhouse.train import artifacts, checkpoint, data, distributed, export, student, vision
from stillhouse.train.checkpoint import MetricRow, Progress
from stillhouse.train.config import TrainConfig, TrainResult
from stillhouse.train.distributed import World
from stillhouse.train.hparams import lr_factor
from stillhouse.train.kd import loss_for
from stillhouse.train.losses import LossFn
from stillhouse.train.prepare import Prepared, finished_result, prepare
from stillhouse.train.stop import StopSignal

MAX_GRAD_NORM = 1.0


def run_training(
    config: TrainConfig,
    *,
    should_stop: Callable[[], bool] | None = None,
    loss_fn: LossFn | None = None,
) -> TrainResult:
    """Fine-tune ``config.student`` on ``config.data`` and export a loadable model directory.

    Raises :class:`~stillhouse.errors.InvalidInputError` (bad hyperparameter, dataset or length, a
    batch that does not split over the processes) before training,
    :class:`~stillhouse.errors.ConflictError` when ``out`` holds another run, and
    :class:`~stillhouse.errors.JobStoppedError` (or ``KeyboardInterrupt`` for Ctrl-C) after saving a
    checkpoint when stopped; rerun with ``resume=True`` to continue. ``loss_fn`` defaults to the
    loss the hyperparameters' ``distillationMethod`` names (:func:`stillhouse.train.kd.loss_for`).
    In a process group (torchrun's, or one the caller set up) every rank calls this and gets rank
    0's result.
    """
    import torch

    started = time.monotonic()
    with distributed.joined() as world:
        if not world.primary:  # one progress display for the run, rank 0's
            config = config.model_copy(update={"progress": False})
        prepared = prepare(config, world.size)
        done = finished_result(config, prepared)
        if done is not None:
            return done
        threads_before = torch.get_num_threads()
        torch.set_num_threads(max(1, student.cpu_threads(config.threads) // world.local_size))
        try:
            torch.manual_seed(config.seed)
            run = Run.start(config, prepared, loss_fn or loss_for(prepared.hp), world)
            stop = StopSignal(should_stop)
            with stop.catching_ctrl_c():
                run.train(stop)
            run.finish_validation()
            run.save()  # until the export is written, a crash can still resume from here
            return run.finish(started)
        finally:
            torch.set_num_threads(threads_before)


@dataclass
class Run:
    """A run in progress: the model, its optimizer and schedule, and where it stands.

    ``model`` is the student itself (what validation, checkpoints and the export use); ``trained``
    is what the steps call: the student under DistributedDataParallel in a process group.
    """

    config: TrainConfig
    prepared: Prepared
    model: Any
    trained: Any
    optimizer: Any
    scheduler: Any
    loss_fn: LossFn
    progress: Progress
    world: World

    @classmethod
    def start(cls, config: TrainConfig, prepared: Prepared, loss_fn: LossFn, world: World) -> Run:
        """Load the student, set up AdamW and the LR schedule, and resume if asked."""
        import torch

        note(f"loading {prepared.student_dir} ({config.method})", enabled=config.progress)
        model = student.build_model(prepared.student_dir, config).to(world.device)
        params = list(student.trainable_parameters(model).values())
        optimizer = torch.optim.AdamW(params, lr=prepared.hp.learningRate, weight_decay=0.0)
        warmup, total = prepared.hp.learningRateWarmupSteps, prepared.total_steps
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total))
        run = cls(config, prepared, model, model, optimizer, scheduler, loss_fn, Progress(), world)
        if config.resume:
            run.resume()
        # After resuming: DDP starts every rank from rank 0's weights, which are the checkpoint's.
        run.trained = world.wrap(model, unused=vision.is_vision_student(prepared.student_dir))
        return run

    @property
    def pad_id(self) -> int:
        return student.pad_id(self.prepared.tokenizer)

    def resume(self) -> None:
        """Restore the latest checkpoint (a resume with none starts afresh); every rank reads it."""
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
        self.prepared.data_order = state.data_order  # the order the run began with
        self.progress = Progress.resumed(state)

    def schedule(self) -> list[tuple[int, list[int]]]:
        """Every step of the run as ``(epoch index, example indices)``."""
        flat = [(e, batch) for e, batches in enumerate(self.prepared.data_order) for batch in batches]
        return flat[: self.prepared.total_steps]

    def train(self, stop: StopSignal) -> None:
        """Run the remaining steps; validate at epoch ends; checkpoint; stop cleanly when asked."""
        from stillhouse.progress import progress_bar

        schedule, progress, epochs = self.schedule(), self.progress, len(self.prepared.data_order)
        self.trained.train()
        self.write_metrics()
        with progress_bar("training", len(schedule), disable=not self.config.progress) as (bar, task):
            bar.reset(task, total=len(schedule), completed=progress.step)
            while progress.step < len(schedule):
                epoch, indices = schedule[progress.step]
                loss = self.step(indices)
                progress.step += 1
                progress.training.append(MetricRow(step=progress.step, epoch=epoch + 1, loss=loss))
                if self.world.primary:
                    artifacts.append_metric(self.config.out / artifacts.TRAINING_CSV, progress.training[-1])
                bar.update(task, completed=progress.step, info=_info(progress, epoch, epochs))
                last = progress.step == len(schedule)
                if (last or schedule[progress.step][0] != epoch) and self.prepared.validation:
                    self.validate()
                    self.write_metrics()
                if progress.step % self.config.checkpoint_every == 0:
                    self.save()
                # Every rank stops at the same step, or the others would wait on it for ever.
                if not last and self.world.any(stop.requested()):
                    self.stop(stop)

    def step(self, indices: list[int]) -> float:
        """One optimizer step on one global batch (this rank's share of it, in micro-batches);
        returns the batch's loss and counts tokens and time over every rank."""
        import torch

        began, began_cpu = time.perf_counter(), time.process_time()
        examples, world = self.prepared.train.examples, self.world
        parts = distributed.rank_micro_batches(
            indices, rank=world.rank, world_size=world.size, accumulation=self.config.grad_accumulation
        )
        total = max(1, sum(data.predicted_tokens(examples[i]) for i in indices))
        loss = tokens = padded = 0.0
        for k, part in enumerate(parts):
            # An empty slot (a short last batch) still joins the all-reduce, with no weight.
            batch = world.place(data.collate([examples[i] for i in part or indices[:1]], self.pad_id))
            share = len(batch["targets"]) / total if part else 0.0
            _seed_micro_batch(self.config.seed, self.progress.step, world.rank * len(parts) + k)
            with distributed.no_sync(self.trained, last=k == len(parts) - 1):
                micro = _forward_loss(self.trained, batch, self.loss_fn)
                (micro * (share * world.size)).backward()  # DDP averages over ranks: undo it
            loss += float(micro.detach()) * share
            tokens += float(batch["attention_mask"].sum()) if part else 0.0
            padded += float(batch["attention_mask"].numel()) if part else 0.0
        torch.nn.utils.clip_grad_norm_(student.trainable_parameters(self.model).values(), MAX_GRAD_NORM)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss, tokens, padded, cpu = world.sum([loss, tokens, padded, time.process_time() - began_cpu])
        self.progress.train_seconds += time.perf_counter() - began
        self.progress.train_cpu_seconds += cpu
        self.progress.trained_tokens += int(tokens)
        self.progress.padded_tokens += int(padded)
        return loss

    def stop(self, stop: StopSignal) -> None:
        """Checkpoint, then end the run with the exception that says why."""
        path = self.save()
        self.world.barrier()  # no rank leaves (and no launcher ends the others) before it is written
        step, total = self.progress.step, self.prepared.total_steps
        if stop.interrupted:
            raise KeyboardInterrupt(f"training interrupted at step {step} of {total}; checkpoint {path}")
        raise JobStoppedError(
            f"training stopped at step {step} of {total}; checkpoint {path}; resume to continue"
        )

    def validate(self) -> None:
        """Loss on the validation set, weighted by assistant tokens, recorded at the current step;
        each rank scores every ``world size``-th batch."""
        import torch

        examples = self.prepared.validation.examples if self.prepared.validation else []
        order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
        size, total, count = self.prepared.hp.batchSize, 0.0, 0.0
        starts = range(0, len(order), size)[self.world.rank :: self.world.size]
        self.model.eval()
        with torch.no_grad():
            for start in starts:
                batch = data.collate([examples[i] for i in order[start : start + size]], self.pad_id)
                n = int(batch["targets"].numel())
                total += float(_forward_loss(self.model, self.world.place(batch), self.loss_fn)) * n
                count += n
        self.model.train()
        total, count = self.world.sum([total, count])
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
        if not self.world.primary:
            return
        artifacts.write_metrics(out / artifacts.TRAINING_CSV, progress.training, "training_loss")
        if progress.validation:
            artifacts.write_metrics(out / artifacts.VALIDATION_CSV, progress.validation, "validation_loss")

    def save(self) -> Path:
        """Checkpoint the run as it stands, on rank 0 (once per step: a stop right after a periodic
        save reuses it); returns where it is."""
        out, step = self.config.out, self.progress.step
        latest = checkpoint.list_checkpoints(out)
        if not self.world.primary or (latest and latest[-1].name == checkpoint.step_name(step)):
            return checkpoint.checkpoint_root(out) / checkpoint.step_name(step)
        tensors = {
            "model": {k: v.detach() for k, v in student.trainable_parameters(self.model).items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }
        state = self.progress.state(self.prepared.fingerprint, self.prepared.data_order)
        return checkpoint.save_checkpoint(out, state, tensors, keep=self.config.keep_checkpoints)

    def finish(self, started: float) -> TrainResult:
        """Rank 0 exports the model and records the completed run; every rank returns its result."""
        result = None
        if self.world.primary:
            result = self.export(time.monotonic() - started)
            checkpoint.finish(
                self.config.out,
                self.prepared.fingerprint,
                result.model_dump(mode="json"),
                retain=self.config.retain_checkpoints,
            )
        return self.world.broadcast(result)

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

            write_manifest(model_dir, get_task(config.task).name, trained_on=prepared.hp.student_format())
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


def _seed_micro_batch(seed: int, step: int, slot: int) -> None:
    """Seed dropout for one micro-batch from the run's seed, the step and the batch slot, so that no
    random state needs saving and a checkpoint resumes on any world size."""
    import torch

    torch.manual_seed((seed * 1_000_003 + step) * 1_009 + slot)


def _info(progress: Progress, epoch: int, epochs: int) -> str:
    loss = progress.training[-1].loss
    return f"epoch {epoch + 1}/{epochs} · loss {loss:.4f} · {progress.tokens_per_second:,.0f} tok/s"
