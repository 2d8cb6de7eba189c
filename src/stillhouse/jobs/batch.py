"""Batch inference jobs (``CreateModelInvocationJob`` and friends), part of :class:`JobService`.

This module records jobs and their state; a worker runs them (:mod:`stillhouse.batch.runner`) and
reports back through :meth:`BatchJobsMixin.update_invocation_job`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stillhouse.jobs import kinds, state
from stillhouse.jobs.batch_schema import (
    CreateModelInvocationJobRequest,
    CreateModelInvocationJobResponse,
    ListModelInvocationJobsRequest,
    ListModelInvocationJobsResponse,
    ModelInvocationJob,
)
from stillhouse.jobs.schema import parse_wire
from stillhouse.jobs.store import ListQuery

if TYPE_CHECKING:
    from stillhouse.jobs.store import Store
    from stillhouse.sources.objectstore import ObjectStore

BATCH = kinds.Kind(
    name="batch",
    arn_type="model-invocation-job",
    doc=ModelInvocationJob,
    moves=state.BATCH_MOVES,
    label="model invocation job",
)
DEFAULT_TIMEOUT_HOURS = 24  # Bedrock's default when timeoutDurationInHours is not given
MANIFEST = "manifest.json.out"  # beside the .out files, where Bedrock writes it


class BatchJobsMixin:
    """Batch inference methods of the job service (they share its store)."""

    store: Store

    def create_invocation_job(
        self, request: CreateModelInvocationJobRequest | dict[str, Any]
    ) -> CreateModelInvocationJobResponse:
        """Record a job in ``Submitted``; idempotent on ``clientRequestToken``."""
        req: CreateModelInvocationJobRequest = parse_wire(CreateModelInvocationJobRequest, request)
        job_id, _ = kinds.create(
            self.store, BATCH, req, req.jobName, req.clientRequestToken, lambda i: _new_job(i, req)
        )
        return CreateModelInvocationJobResponse(jobArn=kinds.arn(BATCH, job_id))

    def get_invocation_job(self, identifier: str) -> ModelInvocationJob:
        """``GetModelInvocationJob`` by ARN, name or id."""
        return kinds.get(self.store, BATCH, identifier)

    def invocation_job_id(self, identifier: str) -> str:
        return kinds.find(self.store, BATCH, identifier)["id"]

    def invocation_job_request(self, job_id: str) -> CreateModelInvocationJobRequest:
        return CreateModelInvocationJobRequest.model_validate_json(
            kinds.find(self.store, BATCH, job_id)["request"]
        )

    def list_invocation_jobs(
        self, request: ListModelInvocationJobsRequest | dict[str, Any] | None = None
    ) -> ListModelInvocationJobsResponse:
        """``ListModelInvocationJobs`` with status/name/submit-time filters and paging."""
        req = parse_wire(ListModelInvocationJobsRequest, request or {})
        query = ListQuery.of(req, req.submitTimeAfter, req.submitTimeBefore, req.statusEquals)
        jobs, token = kinds.page(self.store, BATCH, query)
        return ListModelInvocationJobsResponse(nextToken=token, invocationJobSummaries=jobs)

    def stop_invocation_job(self, identifier: str) -> None:
        """``StopModelInvocationJob``: the worker stops at its next record; the records it wrote stay."""
        kinds.stop(self.store, BATCH, identifier)

    def update_invocation_job(
        self,
        job_id: str,
        change: Callable[[ModelInvocationJob], ModelInvocationJob],
        progress: dict[str, Any] | None = None,
    ) -> ModelInvocationJob:
        """Apply a state move (worker side) atomically."""
        return kinds.update(self.store, BATCH, job_id, lambda job, leased: change(job), progress)


def output_prefix(out_uri: str, job_id: str) -> str:
    """Where a job's ``.out`` files and manifest go: ``{s3Uri}{jobId}/``, as Bedrock writes them."""
    return out_uri.rstrip("/") + f"/{job_id}/"


def read_manifest(store: ObjectStore, out_uri: str, job_id: str) -> dict[str, Any]:
    """A finished job's ``manifest.json.out`` (what a caller reads after the job ends)."""
    import json

    return json.loads(store.get_bytes(output_prefix(out_uri, job_id) + MANIFEST))


def _new_job(job_id: str, req: CreateModelInvocationJobRequest) -> ModelInvocationJob:
    at = state.now()
    hours = req.timeoutDurationInHours or DEFAULT_TIMEOUT_HOURS
    return ModelInvocationJob(
        jobArn=kinds.arn(BATCH, job_id),
        jobName=req.jobName,
        modelId=req.modelId,
        clientRequestToken=req.clientRequestToken,
        roleArn=req.roleArn,
        status="Submitted",
        submitTime=at,
        lastModifiedTime=at,
        inputDataConfig=req.inputDataConfig,
        outputDataConfig=req.outputDataConfig,
        vpcConfig=req.vpcConfig,
        timeoutDurationInHours=hours,
        jobExpirationTime=at + timedelta(hours=hours),
        modelInvocationType=req.modelInvocationType,
    )
