"""The kinds of job the console lists, one row each in :data:`KINDS`.

A kind knows how to list its jobs, show one and stop one, in the console's own shapes
(:class:`JobRow`, :class:`JobDetail`), so the jobs pages never branch on a kind: batch inference
and evaluation jobs are a :class:`JobKind` added to the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillhouse.serve.console.views import read_loss_csv

if TYPE_CHECKING:
    from stillhouse.serve.context import ServeContext

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


@dataclass(frozen=True)
class JobRow:
    kind: str
    ident: str  # what the kind's get/stop accept (a name or id without '/')
    name: str
    status: str
    substatuses: dict[str, str]
    created: datetime
    ended: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True)
class JobDetail:
    row: JobRow
    config: dict[str, Any]
    teacher: dict[str, Any] | None = None  # answered / cached / failed
    loss: list[tuple[int, float]] = field(default_factory=list)
    failure: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # label -> value (output model, URIs)


@dataclass(frozen=True)
class JobKind:
    slug: str
    title: str
    rows: Callable[[ServeContext], list[JobRow]]
    detail: Callable[[ServeContext, str], JobDetail]
    stop: Callable[[ServeContext, str], None]


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
        }
    labelled = job_dir / "data" / "labelled.jsonl"
    if labelled.is_file():
        with labelled.open("rb") as handle:
            return {"answered so far": sum(1 for line in handle if line.strip())}
    return None


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

KINDS: dict[str, JobKind] = {k.slug: k for k in (CUSTOMIZATION,)}


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True)
