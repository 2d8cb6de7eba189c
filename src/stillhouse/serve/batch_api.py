"""Bedrock's batch inference control plane over HTTP: ``CreateModelInvocationJob``,
``GetModelInvocationJob``, ``ListModelInvocationJobs``, ``StopModelInvocationJob``.

Paths, methods and status codes are botocore's; the work is :class:`stillhouse.jobs.JobService`'s
(on a worker thread, as the other control-plane routes), and job workers run the jobs.
"""

from asyncio import to_thread
from typing import TYPE_CHECKING

from stillhouse.jobs.batch_schema import CreateModelInvocationJobRequest
from stillhouse.serve.context import authed, json_response, parse_json, query

if TYPE_CHECKING:
    from fastapi import APIRouter

JOB = "/model-invocation-job"
JOBS = "/model-invocation-jobs"


def router() -> "APIRouter":
    """The batch inference routes (``:path`` because a job ARN contains a slash)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["bedrock-batch"])

    @r.post(JOB)
    async def create_job(request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(CreateModelInvocationJobRequest, body)
        return json_response(await to_thread(ctx.jobs.create_invocation_job, req))

    @r.get(JOBS)
    async def list_jobs(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.list_invocation_jobs, query(request)))

    @r.post(JOB + "/{job_identifier:path}/stop")
    async def stop_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(ctx.jobs.stop_invocation_job, job_identifier)
        return json_response(None)

    @r.get(JOB + "/{job_identifier:path}")
    async def get_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_invocation_job, job_identifier))

    return r
