"""Running one customization job through its stages, resumably.

A job is three stages (validation, data processing, training) then publishing its output artifacts and
registering the custom model. :func:`run_job` skips stages already Completed (stage completion and
the stage outputs in :class:`JobProgress` are persisted together), so a job resumed after a crash
never redoes finished work; work inside a stage resumes from its own on-disk state (the teacher
cache and append-only labelled output, training checkpoints).

What each stage does is a :class:`Stages` implementation: :class:`stillhouse.jobs.stages.DefaultStages`
for real jobs, fakes in tests.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import JobStoppedError, StillhouseError
from stillhouse.jobs import state
from stillhouse.jobs.schema import CreateModelCustomizationJobRequest, ModelCustomizationJob

if TYPE_CHECKING:
    from stillhouse.jobs.service import JobService

log = logging.getLogger(__name__)


class JobProgress(BaseModel):
    """Stage outputs persisted with each stage's completion (paths are inside the job folder)."""

    model_config = ConfigDict(extra="forbid")

    training_file: str | None = None
    validation_file: str | None = None
    labelled_file: str | None = None
    labelled_validation_file: str | None = None
    validation_report: dict[str, Any] | None = None
    log_report: dict[str, Any] | None = None
    label_summary: dict[str, Any] | None = None
    model_dir: str | None = None
    train_out: str | None = None
    training_loss: float | None = None
    validation_loss: float | None = None
    outputs_uri: str | None = None


@dataclass
class JobContext:
    """What a stage gets: the request, the job's folder, its progress so far and the stop check."""

    job_id: str
    request: CreateModelCustomizationJobRequest
    job_dir: Path
    progress: JobProgress
    should_stop: Callable[[], bool]

    def check_stop(self) -> None:
        """A safe point: raise :class:`JobStoppedError` if the job was asked to stop."""
        if self.should_stop():
            raise JobStoppedError(f"job {self.request.jobName} stopped", field="status")


class Stages(Protocol):
    """The work of each stage. Each must be safe to rerun after a crash part-way through it."""

    def validate(self, ctx: JobContext) -> None: ...

    def process_data(self, ctx: JobContext) -> None: ...

    def train(self, ctx: JobContext) -> None: ...

    def publish(self, ctx: JobContext) -> None: ...


class Abandoned(Exception):
    """The worker must let go of the job without changing its state (shutdown, lost lease)."""


def run_job(
    service: JobService, job_id: str, stages: Stages, should_stop: Callable[[], bool]
) -> ModelCustomizationJob:
    """Drive a claimed job to Completed, Failed or Stopped, resuming after its last finished stage.

    Raises :class:`Abandoned` when ``should_stop`` fired but nobody asked to stop the job (the
    worker is shutting down or lost its lease): the job stays live for another worker to resume.
    """
    job = service.get_job(job_id)
    if job.status in state.TERMINAL:  # finished (or stopped) while waiting to be claimed
        return job
    if job.status == "Stopping":
        return service.transition(job_id, lambda j: state.finish_stopped(j, state.now()))
    ctx = JobContext(
        job_id,
        service.job_request(job_id),
        service.job_dir(job_id),
        JobProgress.model_validate(service.progress(job_id)),
        should_stop,
    )
    ctx.job_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _run_stages(service, ctx, stages, job)
    except JobStoppedError as exc:
        if service.get_job(job_id).status != "Stopping":
            raise Abandoned(str(exc)) from exc
        return service.transition(job_id, lambda j: state.finish_stopped(j, state.now()))
    except StillhouseError as exc:
        return _fail(service, ctx, str(exc))
    except Exception as exc:  # a bug or a library failure: fail the job, keep the traceback beside it
        (ctx.job_dir / "error.txt").write_text(traceback.format_exc())
        return _fail(service, ctx, f"internal error: {type(exc).__name__}: {exc}")


def _run_stages(
    service: JobService, ctx: JobContext, stages: Stages, job: ModelCustomizationJob
) -> ModelCustomizationJob:
    work = {"validation": stages.validate, "dataProcessing": stages.process_data, "training": stages.train}
    for stage in state.STAGES:
        if state.stage_status(job, stage) == "Completed":
            continue
        ctx.check_stop()
        service.transition(ctx.job_id, lambda j, s=stage: state.start_stage(j, s, state.now()))
        work[stage](ctx)
        job = service.transition(
            ctx.job_id,
            lambda j, s=stage: state.complete_stage(j, s, state.now()),
            progress=ctx.progress.model_dump(mode="json"),
        )
    ctx.check_stop()
    stages.publish(ctx)
    service.save_progress(ctx.job_id, ctx.progress.model_dump(mode="json"))
    if ctx.progress.model_dir is None:
        raise StillhouseError("training finished without a model directory")
    service.register_output_model(
        ctx.job_id,
        Path(ctx.progress.model_dir),
        training_loss=ctx.progress.training_loss,
        validation_loss=ctx.progress.validation_loss,
    )
    return service.get_job(ctx.job_id)


def _fail(service: JobService, ctx: JobContext, message: str) -> ModelCustomizationJob:
    """Fail the job, keeping what the failed stage found (e.g. its validation report) for diagnosis."""
    log.warning("job %s failed: %s", ctx.job_id, message)
    return service.transition(
        ctx.job_id,
        lambda j: state.fail(j, message, state.now()),
        progress=ctx.progress.model_dump(mode="json"),
    )
