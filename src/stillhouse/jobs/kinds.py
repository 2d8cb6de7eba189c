"""The control-plane plumbing every job kind other than customization shares: create (idempotent on
``clientRequestToken``), look up by ARN, name or id, list a page, read-modify-write, stop.

A kind is a :class:`Kind` (its store name, its ARN resource type, its document model, its state
table); batch inference (:mod:`stillhouse.jobs.batch`) and evaluation (:mod:`stillhouse.jobs.evaluation`)
are two. Rows live in the same ``jobs`` table as customization jobs, so the same workers claim them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from stillhouse.errors import ConflictError, NotFoundError
from stillhouse.jobs import arns, state
from stillhouse.jobs.store import JobRow, ListQuery, Store, epoch, replayed, request_digest, scoped

D = TypeVar("D", bound=BaseModel)


@dataclass(frozen=True)
class Kind(Generic[D]):
    name: str  # the store's ``kind`` column
    arn_type: str  # the ARN's resource type, e.g. ``model-invocation-job``
    doc: type[D]
    moves: dict[str, frozenset[str]]
    label: str  # how errors name it: "model invocation job"


def create(
    store: Store, kind: Kind[D], request: BaseModel, name: str, token: str | None, make: Callable[[str], D]
) -> tuple[str, bool]:
    """Insert the document ``make(job_id)``; ``(job id, created)``. The same token with the same
    request returns the first job (``created`` False); with another request, or a taken name, it is
    a :class:`ConflictError`."""
    digest = request_digest(request)
    with store.transaction() as db:
        if (row := replayed(db, "jobs", scoped(kind.name, token), digest)) is not None:
            return row["id"], False
        if db.execute("SELECT 1 FROM jobs WHERE name = ?", (scoped(kind.name, name),)).fetchone():
            raise ConflictError(f"a {kind.label} named {name!r} already exists", field="jobName")
        job_id = secrets.token_hex(6)
        doc = make(job_id)
        created = getattr(doc, "submitTime", None) or doc.creationTime
        store.insert_job(
            db,
            JobRow(
                job_id,
                kind.name,
                name,
                token,
                digest,
                doc.status,
                epoch(created),
                doc.model_dump_json(),
                request.model_dump_json(),
            ),
        )
        return job_id, True


def arn(kind: Kind[Any], job_id: str) -> str:
    return arns.resource_arn(kind.arn_type, job_id)


def find(store: Store, kind: Kind[Any], identifier: str) -> Any:
    """The row of a job given its ARN, name or id (:class:`NotFoundError` when unknown)."""
    row = store.find("jobs", identifier, kind.arn_type, kind=kind.name)
    if row is None:
        raise NotFoundError(f"no {kind.label} {identifier!r}", field="jobIdentifier")
    return row


def get(store: Store, kind: Kind[D], identifier: str) -> D:
    return kind.doc.model_validate_json(find(store, kind, identifier)["doc"])


def page(store: Store, kind: Kind[D], query: ListQuery) -> tuple[list[D], str | None]:
    rows, token = store.page("jobs", query.as_page(kind.name))
    return [kind.doc.model_validate_json(r["doc"]) for r in rows], token


def update(
    store: Store, kind: Kind[D], job_id: str, change: Callable[[D, bool], D], progress: dict | None = None
) -> D:
    """Read-modify-write one job's document atomically (``change(doc, leased)``)."""

    def on_doc(doc: dict[str, Any], leased: bool) -> dict[str, Any]:
        return change(kind.doc.model_validate(doc), leased).model_dump(mode="json")

    return kind.doc.model_validate(store.update_job(job_id, on_doc, progress=progress))


def stop(store: Store, kind: Kind[D], identifier: str) -> D:
    """Stopping while a worker holds the job, Stopped at once when none does (read in the same
    transaction as the write, so a worker claiming it now sees one or the other)."""
    at = state.now()
    job_id = find(store, kind, identifier)["id"]
    return update(store, kind, job_id, lambda job, leased: state.stop_requested(job, kind.moves, leased, at))
