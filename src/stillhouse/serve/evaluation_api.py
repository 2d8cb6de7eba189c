"""Bedrock's evaluation jobs over HTTP: ``CreateEvaluationJob`` (202), ``GetEvaluationJob``,
``ListEvaluationJobs``, ``StopEvaluationJob`` (botocore's paths: the stop route is singular,
``/evaluation-job/{id}/stop``). The work is :class:`stillhouse.jobs.JobService`'s; workers run the jobs.
"""

from asyncio import to_thread
from typing import TYPE_CHECKING

from stillhouse.jobs.evaluation_schema import CreateEvaluationJobRequest
from stillhouse.serve.context import authed, json_response, parse_json, query

if TYPE_CHECKING:
    from fastapi import APIRouter

JOBS = "/evaluation-jobs"


def router() -> "APIRouter":
    """The evaluation job routes (``:path`` because a job ARN contains a slash)."""
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["bedrock-evaluation"])

    @r.post(JOBS)
    async def create_job(request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(CreateEvaluationJobRequest, body)
        return json_response(await to_thread(ctx.jobs.create_evaluation_job, req), 202)

    @r.get(JOBS)
    async def list_jobs(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.list_evaluation_jobs, query(request)))

    @r.post("/evaluation-job/{job_identifier:path}/stop")
    async def stop_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(ctx.jobs.stop_evaluation_job, job_identifier)
        return json_response(None)

    @r.get(JOBS + "/{job_identifier:path}")
    async def get_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_evaluation_job, job_identifier))

    return r
