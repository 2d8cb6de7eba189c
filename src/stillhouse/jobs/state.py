"""The job state machine: legal transitions only, as pure functions over :class:`ModelCustomizationJob`.

Job status::

    InProgress ──> Completed | Failed | Stopping
    Stopping   ──> Stopped | Failed | Completed   (the last stage may finish before a safe point)

Stage status (``validationDetails``, ``dataProcessingDetails``, ``trainingDetails``)::

    NotStarted ──> InProgress ──> Completed | Failed | Stopping | Stopped
                                  Stopping ──> Stopped | Completed | Failed

Batch inference (``ModelInvocationJob``) and evaluation jobs have their own status sets, moved by
:func:`move` over their own tables::

    batch:      Submitted ──> Validating ──> Scheduled ──> InProgress ──> Completed | PartiallyCompleted
                any live ──> Failed | Stopping;  Stopping ──> Stopped (or the end it reached first)
    evaluation: InProgress ──> Completed | Failed | Stopping;  Stopping ──> Stopped | Failed | Completed

Every function returns a new job; an illegal move raises :class:`ConflictError` so a stray call (a
stop on a finished job, a stage completing twice) is caught, never written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, TypeVar

from pydantic import BaseModel

from stillhouse.errors import ConflictError
from stillhouse.jobs.schema import JobStatus, ModelCustomizationJob, StageStatus, StatusDetail, StatusDetails

Stage = Literal["validation", "dataProcessing", "training"]
STAGES: tuple[Stage, ...] = ("validation", "dataProcessing", "training")
TERMINAL: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})

JOB_MOVES: dict[str, frozenset[str]] = {
    "InProgress": frozenset({"Completed", "Failed", "Stopping"}),
    "Stopping": frozenset({"Stopped", "Failed", "Completed"}),
}
STAGE_MOVES: dict[str, frozenset[str]] = {
    "NotStarted": frozenset({"InProgress"}),
    "InProgress": frozenset({"Completed", "Failed", "Stopping", "Stopped"}),
    "Stopping": frozenset({"Stopped", "Completed", "Failed"}),
}


def now() -> datetime:
    """The current time, UTC, to the millisecond (what Bedrock's timestamps carry)."""
    t = datetime.now(UTC)
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _field(stage: Stage) -> str:
    return f"{stage}Details"


def stage_status(job: ModelCustomizationJob, stage: Stage) -> StageStatus:
    return getattr(job.statusDetails, _field(stage)).status


def can_move_job(current: str, target: str) -> bool:
    return target in JOB_MOVES.get(current, frozenset())


def can_move_stage(current: str, target: str) -> bool:
    return target in STAGE_MOVES.get(current, frozenset())


def _with_stage(
    job: ModelCustomizationJob, stage: Stage, target: StageStatus, at: datetime
) -> ModelCustomizationJob:
    detail: StatusDetail = getattr(job.statusDetails, _field(stage))
    if not can_move_stage(detail.status, target):
        raise ConflictError(f"{stage} cannot go from {detail.status} to {target}", field="statusDetails")
    moved = detail.model_copy(
        update={"status": target, "lastModifiedTime": at, "creationTime": detail.creationTime or at}
    )
    details = job.statusDetails.model_copy(update={_field(stage): moved})
    return job.model_copy(update={"statusDetails": details, "lastModifiedTime": at})


def _with_status(
    job: ModelCustomizationJob, target: JobStatus, at: datetime, **extra: object
) -> ModelCustomizationJob:
    if not can_move_job(job.status, target):
        raise ConflictError(f"job {job.jobName} is {job.status}; it cannot become {target}", field="status")
    end = at if target in TERMINAL else None
    return job.model_copy(update={"status": target, "lastModifiedTime": at, "endTime": end, **extra})


def start_stage(job: ModelCustomizationJob, stage: Stage, at: datetime) -> ModelCustomizationJob:
    """Mark a stage InProgress (a resumed stage already InProgress stays as it is)."""
    if stage_status(job, stage) == "InProgress":
        return job
    return _with_stage(job, stage, "InProgress", at)


def complete_stage(job: ModelCustomizationJob, stage: Stage, at: datetime) -> ModelCustomizationJob:
    return _with_stage(job, stage, "Completed", at)


def request_stop(job: ModelCustomizationJob, at: datetime) -> ModelCustomizationJob:
    """InProgress -> Stopping; the running stage goes Stopping too. Stopping again is a no-op."""
    if job.status == "Stopping":
        return job
    job = _with_status(job, "Stopping", at)
    for stage in STAGES:
        if stage_status(job, stage) == "InProgress":
            job = _with_stage(job, stage, "Stopping", at)
    return job


def finish_stopped(job: ModelCustomizationJob, at: datetime) -> ModelCustomizationJob:
    """Stopping -> Stopped, with the interrupted stage Stopped (stages never begun stay NotStarted)."""
    for stage in STAGES:
        if stage_status(job, stage) in ("InProgress", "Stopping"):
            job = _with_stage(job, stage, "Stopped", at)
    return _with_status(job, "Stopped", at)


def fail(job: ModelCustomizationJob, message: str, at: datetime) -> ModelCustomizationJob:
    """Any live job -> Failed with ``failureMessage``; the running stage is marked Failed."""
    for stage in STAGES:
        if stage_status(job, stage) in ("InProgress", "Stopping"):
            job = _with_stage(job, stage, "Failed", at)
    return _with_status(job, "Failed", at, failureMessage=message)


def complete(job: ModelCustomizationJob, model_arn: str, at: datetime) -> ModelCustomizationJob:
    """The custom model is registered: the job is Completed (every stage must be Completed)."""
    unfinished = [s for s in STAGES if stage_status(job, s) != "Completed"]
    if unfinished:
        raise ConflictError(f"job {job.jobName} cannot complete: {', '.join(unfinished)} not Completed")
    return _with_status(job, "Completed", at, outputModelArn=model_arn)


def fresh_details() -> StatusDetails:
    return StatusDetails()


# ------------------------------------------------------------------- batch inference, evaluation

J = TypeVar("J", bound=BaseModel)
BATCH_MOVES: dict[str, frozenset[str]] = {
    "Submitted": frozenset({"Validating", "Failed", "Stopping"}),
    "Validating": frozenset({"Scheduled", "Failed", "Stopping"}),
    "Scheduled": frozenset({"InProgress", "Failed", "Stopping"}),
    "InProgress": frozenset({"Completed", "PartiallyCompleted", "Failed", "Stopping", "Expired"}),
    "Stopping": frozenset({"Stopped", "Completed", "PartiallyCompleted", "Failed"}),
}
BATCH_TERMINAL: frozenset[str] = frozenset(
    {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}
)
BATCH_STEPS: tuple[str, ...] = ("Submitted", "Validating", "Scheduled", "InProgress")
EVALUATION_MOVES: dict[str, frozenset[str]] = JOB_MOVES


def move(job: J, moves: dict[str, frozenset[str]], target: str, at: datetime, **extra: object) -> J:
    """``job`` (any job document with ``status``/``lastModifiedTime``) moved to ``target``, or a
    :class:`ConflictError` when ``moves`` has no such arrow. A terminal target sets ``endTime``
    on documents that carry one."""
    current = job.status
    if target not in moves.get(current, frozenset()):
        raise ConflictError(f"the job is {current}; it cannot become {target}", field="status")
    update: dict[str, object] = {"status": target, "lastModifiedTime": at, **extra}
    if "endTime" in type(job).model_fields and target not in moves:
        update["endTime"] = at
    return job.model_copy(update=update)


def advance_batch(job: J, target: str, at: datetime) -> J:
    """Walk a batch job forward to ``target`` (one of :data:`BATCH_STEPS`) through each step between;
    a resumed job already there (or past it) stays as it is."""
    status = job.status
    if status not in BATCH_STEPS or BATCH_STEPS.index(status) >= BATCH_STEPS.index(target):
        return job
    for step in BATCH_STEPS[BATCH_STEPS.index(status) + 1 : BATCH_STEPS.index(target) + 1]:
        job = move(job, BATCH_MOVES, step, at)
    return job


def batch_outcome(errors: int, successes: int) -> str:
    """How a batch job that processed every record ends: Completed when none failed,
    PartiallyCompleted when some did, Failed when all did."""
    if errors == 0:
        return "Completed"
    return "PartiallyCompleted" if successes else "Failed"


def stop_requested(job: J, moves: dict[str, frozenset[str]], leased: bool, at: datetime) -> J:
    """A stop request: Stopping while a worker holds the job (it stops at its next safe point),
    Stopped at once otherwise; Stopping again is a no-op; a finished job is a ConflictError."""
    if job.status == "Stopping":
        return job
    job = move(job, moves, "Stopping", at)
    return job if leased else move(job, moves, "Stopped", at)
