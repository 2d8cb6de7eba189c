"""The kinds of job the console lists, one row each in :data:`KINDS`.

A kind knows how to list its jobs, show one and stop one, in the console's own shapes
(:class:`JobRow`, :class:`JobDetail`), so the jobs pages never branch on a kind. Each row calls the
job service's methods for its kind (and the paths its outputs are written to from the module that
writes them), never a copy of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillhouse.errors import NotFoundError, StillhouseError
from stillhouse.jobs import state
from stillhouse.serve.console.views import read_loss_csv

if TYPE_CHECKING:
    from stillhouse.serve.context import ServeContext

# Every kind's end states: customization and evaluation end Completed, Failed or Stopped; a batch
# job may also end PartiallyCompleted or Expired.
TERMINAL = state.TERMINAL | state.BATCH_TERMINAL


@dataclass(frozen=True)
class JobRow:
    kind: str
    ident: str  # what the kind's get/stop accept (a name or id without '/')
    name: str
    status: str
    substatuses: dict[str, str]
    created: datetime
    ended: datetime | None = None
    note: str = ""  # a line of progress the list shows beside the stages (a batch job's records)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class JobDetail:
    row: JobRow
    config: dict[str, Any]
    teacher: dict[str, Any] | None = None  # answered / cached / failed
    loss: list[tuple[int, float]] | None = None  # a training loss curve (None: the kind trains nothing)
    failure: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # label -> value (output model)
    counts: dict[str, int] = field(default_factory=dict)  # a batch job's manifest counts
    uris: list[str] = field(default_factory=list)  # the objects the job wrote
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # label -> metric -> mean, scored
    report: bool = False  # an HTML report to open in place (JobKind.report)
    ran_on: str | None = None  # where a batch or evaluation job's model calls ran


@dataclass(frozen=True)
class JobKind:
    slug: str
    title: str
    rows: Callable[[ServeContext], list[JobRow]]
    detail: Callable[[ServeContext, str], JobDetail]
    stop: Callable[[ServeContext, str], None]
    report: Callable[[ServeContext, str], bytes] | None = None  # the job's HTML report


# ------------------------------------------------------------------------- model customization


def _customization_rows(ctx: ServeContext) -> list[JobRow]:
    page = ctx.jobs.list_jobs({"maxResults": 100})
    return [
        JobRow(
            kind="customization",
            ident=s.jobName,
            name=s.jobName,
            status=s.status,
            substatuses=_substatuses(s.statusDetails),
            created=s.creationTime,
            ended=s.endTime,
        )
        for s in page.modelCustomizationJobSummaries
    ]


def _substatuses(details: Any) -> dict[str, str]:
    if details is None:
        return {}
    names = {
        "validationDetails": "validation",
        "dataProcessingDetails": "data processing",
        "trainingDetails": "training",
    }
    return {label: getattr(details, key).status or "NotStarted" for key, label in names.items()}


def _customization_detail(ctx: ServeContext, ident: str) -> JobDetail:
    job = ctx.jobs.get_job(ident)
    job_id = ctx.jobs.job_id(ident)
    progress = ctx.jobs.progress(job_id)
    row = JobRow(
        kind="customization",
        ident=job.jobName,
        name=job.jobName,
        status=job.status,
        substatuses=_substatuses(job.statusDetails),
        created=job.creationTime,
        ended=job.endTime,
    )
    config = job.model_dump(
        mode="json",
        exclude_none=True,
        include={
            "jobArn",
            "customizationType",
            "baseModelArn",
            "outputModelName",
            "hyperParameters",
            "trainingDataConfig",
            "validationDataConfig",
            "outputDataConfig",
            "customizationConfig",
        },
    )
    outputs = {"output model": job.outputModelArn} if job.outputModelArn else {}
    return JobDetail(
        row=row,
        config=config,
        teacher=_teacher_progress(progress, ctx.jobs.job_dir(job_id)),
        loss=_loss(progress, ctx.jobs.job_dir(job_id)),
        failure=job.failureMessage,
        outputs=outputs,
    )


def _teacher_progress(progress: dict[str, Any], job_dir: Path) -> dict[str, Any] | None:
    """The labelling summary once the stage is done; while it runs, the answers written so far."""
    summary = progress.get("label_summary")
    if summary:
        return {
            "answered": summary.get("labelled", 0),
            "cached": summary.get("from_cache", 0),
            "failed": summary.get("failed", 0),
            "golden kept": summary.get("golden_kept", 0),
            "ran on": _ran_on(summary, "label"),
        }
    labelled = job_dir / "data" / "labelled.jsonl"
    if labelled.is_file():
        with labelled.open("rb") as handle:
            return {"answered so far": sum(1 for line in handle if line.strip())}
    return None


def _ran_on(info: dict[str, Any], stage: str) -> str:
    """Where ``stage``'s calls ran and on how many workers (a job run before this was local)."""
    workers = info.get("workers", {}).get(stage, 1)
    return f"{info.get('executor', 'local')}, {workers} worker{'s' if workers != 1 else ''}"


def _stored_ran_on(ctx: ServeContext, job_id: str, stage: str) -> str | None:
    """A batch or evaluation job's stored :class:`ExecutorInfo`, once its calls have run."""
    from stillhouse.executors import RAN_ON

    info = ctx.jobs.progress(job_id).get(RAN_ON)
    return _ran_on(info, stage) if info else None


def _loss(progress: dict[str, Any], job_dir: Path) -> list[tuple[int, float]]:
    from stillhouse.train.artifacts import TRAINING_CSV

    out = Path(progress.get("train_out") or job_dir / "train")
    path = out / TRAINING_CSV
    return read_loss_csv(path.read_text(encoding="utf-8")) if path.is_file() else []


def _customization_stop(ctx: ServeContext, ident: str) -> None:
    ctx.jobs.stop_job(ident)


CUSTOMIZATION = JobKind(
    slug="customization",
    title="Model customization",
    rows=_customization_rows,
    detail=_customization_detail,
    stop=_customization_stop,
)


def open_store(ctx: ServeContext) -> Any:
    """The server's object store (the one jobs write their outputs to)."""
    from stillhouse.sources.objectstore import open_store as default

    return ctx.open_store() if ctx.open_store else default()


def _listing(store: Any, prefix: str) -> list[str]:
    try:
        return [u for u in store.list(prefix) if not u.endswith("/")]
    except StillhouseError:  # the bucket is gone or unreachable: show the job without its files
        return []


# ------------------------------------------------------------------------------ batch inference

BATCH_COUNTS = ("totalRecordCount", "processedRecordCount", "successRecordCount", "errorRecordCount")


def _batch_row(job: Any) -> JobRow:
    note = ""
    if job.totalRecordCount is not None:
        note = f"{job.processedRecordCount or 0}/{job.totalRecordCount} records"
        note += f", {job.errorRecordCount} failed" if job.errorRecordCount else ""
    return JobRow(
        kind="batch",
        ident=job.jobName,
        name=job.jobName,
        status=job.status,
        substatuses={},
        created=job.submitTime,
        ended=job.endTime,
        note=note,
    )


def _batch_rows(ctx: ServeContext) -> list[JobRow]:
    return [_batch_row(j) for j in ctx.jobs.list_invocation_jobs({"maxResults": 100}).invocationJobSummaries]


def _batch_detail(ctx: ServeContext, ident: str) -> JobDetail:
    """The job's counters while it runs; once it has written them, its manifest's counts (which add
    the token counts) and every object under its output prefix."""
    from stillhouse.jobs.batch import MANIFEST, output_prefix, read_manifest

    job = ctx.jobs.get_invocation_job(ident)
    job_id = ctx.jobs.invocation_job_id(ident)
    out_uri = job.outputDataConfig.s3OutputDataConfig.s3Uri
    store = open_store(ctx)
    uris = _listing(store, output_prefix(out_uri, job_id))
    counts = {k: getattr(job, k) for k in BATCH_COUNTS if getattr(job, k) is not None}
    if output_prefix(out_uri, job_id) + MANIFEST in uris:
        counts = read_manifest(store, out_uri, job_id)
    config = job.model_dump(
        mode="json",
        exclude_none=True,
        include={"jobArn", "modelId", "modelInvocationType", "inputDataConfig", "outputDataConfig",
                 "timeoutDurationInHours", "jobExpirationTime"},
    )  # fmt: skip
    ran_on = _stored_ran_on(ctx, job_id, "batch")
    return JobDetail(
        row=_batch_row(job), config=config, failure=job.message, counts=counts, uris=uris, ran_on=ran_on
    )


def _batch_stop(ctx: ServeContext, ident: str) -> None:
    ctx.jobs.stop_invocation_job(ident)


BATCH = JobKind(
    slug="batch", title="Batch inference", rows=_batch_rows, detail=_batch_detail, stop=_batch_stop
)


# ----------------------------------------------------------------------------------- evaluation


def _evaluation_row(job: Any) -> JobRow:
    # A summary carries no lastModifiedTime; a job's document does (its end, once finished).
    ended = getattr(job, "lastModifiedTime", None) if job.status in TERMINAL else None
    return JobRow(
        kind="evaluation",
        ident=job.jobName,
        name=job.jobName,
        status=job.status,
        substatuses={},
        created=job.creationTime,
        ended=ended,
    )


def _evaluation_rows(ctx: ServeContext) -> list[JobRow]:
    return [_evaluation_row(j) for j in ctx.jobs.list_evaluation_jobs({"maxResults": 100}).jobSummaries]


def _evaluation_prefix(ctx: ServeContext, ident: str) -> tuple[Any, str]:
    from stillhouse.jobs.evaluation import output_prefix

    job = ctx.jobs.get_evaluation_job(ident)
    return job, output_prefix(job, ctx.jobs.evaluation_job_id(ident))


def _evaluation_detail(ctx: ServeContext, ident: str) -> JobDetail:
    """The summary's mean score of each model and metric, and the report, once the job wrote them."""
    from stillhouse.jobs.evaluation import REPORT, SUMMARY

    job, base = _evaluation_prefix(ctx, ident)
    store = open_store(ctx)
    uris = _listing(store, base + "/")
    scores: dict[str, dict[str, Any]] = {}
    if f"{base}/{SUMMARY}" in uris:
        summary = json.loads(store.get_bytes(f"{base}/{SUMMARY}"))
        scores = {
            label: {metric: v for metric, v in metrics.items() if metric != "cost"}
            for label, metrics in summary.items()
        }
    config = job.model_dump(
        mode="json",
        exclude_none=True,
        include={"jobArn", "applicationType", "evaluationConfig", "inferenceConfig", "outputDataConfig"},
    )
    failure = "; ".join(job.failureMessages) if job.failureMessages else None
    return JobDetail(
        row=_evaluation_row(job),
        config=config,
        failure=failure,
        uris=uris,
        scores=scores,
        report=f"{base}/{REPORT}" in uris,
        ran_on=_stored_ran_on(ctx, ctx.jobs.evaluation_job_id(ident), "evaluate"),
    )


def _evaluation_report(ctx: ServeContext, ident: str) -> bytes:
    from stillhouse.jobs.evaluation import REPORT

    _, base = _evaluation_prefix(ctx, ident)
    store = open_store(ctx)
    if not store.exists(f"{base}/{REPORT}"):
        raise NotFoundError(f"evaluation job {ident!r} has written no report yet", field="report")
    return bytes(store.get_bytes(f"{base}/{REPORT}"))


def _evaluation_stop(ctx: ServeContext, ident: str) -> None:
    ctx.jobs.stop_evaluation_job(ident)


EVALUATION = JobKind(
    slug="evaluation",
    title="Evaluation",
    rows=_evaluation_rows,
    detail=_evaluation_detail,
    stop=_evaluation_stop,
    report=_evaluation_report,
)

KINDS: dict[str, JobKind] = {k.slug: k for k in (CUSTOMIZATION, BATCH, EVALUATION)}


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
