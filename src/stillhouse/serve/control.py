"""The Bedrock control plane over HTTP: customization jobs, custom models, custom model deployments.

Paths, methods, status codes and query parameter names are Bedrock's (checked against botocore's
service model in the tests), so boto3's ``bedrock`` client works given ``endpoint_url``. The work is
done by :class:`stillhouse.jobs.service.JobService` (on a worker thread: SQLite may wait on a job
worker's write lock, and the event loop must keep serving inference meanwhile); this module only
authenticates, parses, calls and serialises, and starts loading a deployment's model when one is
created.
"""

import logging
from asyncio import to_thread
from typing import TYPE_CHECKING, Any

from stillhouse.errors import NotFoundError, ServiceUnavailableError, StillhouseError
from stillhouse.jobs.schema import CreateCustomModelDeploymentRequest, CreateModelCustomizationJobRequest
from stillhouse.serve.context import ServeContext, authed, json_response, parse_json, query
from stillhouse.serve.deployments import ModelPool

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel

log = logging.getLogger(__name__)
JOBS = "/model-customization-jobs"
MODELS = "/custom-models"
DEPLOYMENTS = "/model-customization/custom-model-deployments"


# ----------------------------------------------------------------------------------- deployments


def start_deployment(ctx: ServeContext, deployment_arn: str) -> ModelPool | None:
    """Load a recorded deployment's model in the background and mark it Active or Failed when done.

    Already loading or loaded: nothing to do. A model whose weights are gone fails at once.
    """
    if ctx.registry.has(deployment_arn):
        return None
    dep = ctx.jobs.get_deployment(deployment_arn)
    try:
        model = ctx.jobs.get_custom_model(dep.modelArn)
        model_dir = ctx.jobs.custom_model_dir(dep.modelArn)
    except NotFoundError as exc:
        ctx.jobs.mark_deployment(deployment_arn, "Failed", str(exc))
        return None

    def done(pool: ModelPool) -> None:
        try:
            ctx.jobs.mark_deployment(deployment_arn, pool.status, pool.failure)  # type: ignore[arg-type]
        except StillhouseError as exc:  # deleted while loading: unload again
            log.info("deployment %s vanished while loading: %s", deployment_arn, exc)
            ctx.registry.remove(deployment_arn)

    aliases = (dep.modelDeploymentName, dep.modelArn, model.modelName)
    return ctx.registry.deploy(deployment_arn, str(model_dir), aliases, on_done=done)


def restore_deployments(ctx: ServeContext) -> int:
    """Reload every deployment not Failed (the server restarted); returns how many started loading."""
    started, token = 0, None
    while True:
        query: dict[str, Any] = {"maxResults": 1000, **({"nextToken": token} if token else {})}
        page = ctx.jobs.list_deployments(query)
        for dep in page.modelDeploymentSummaries:
            if dep.status != "Failed" and start_deployment(ctx, dep.customModelDeploymentArn) is not None:
                started += 1
        token = page.nextToken
        if not token:
            return started


async def create_deployment(request: "Request") -> "JSONResponse":
    ctx, body = await authed(request)
    req = parse_json(CreateCustomModelDeploymentRequest, body)

    def record_and_load() -> "BaseModel":
        out = ctx.jobs.create_deployment(req)
        if ctx.jobs.get_deployment(out.customModelDeploymentArn).status != "Failed":
            start_deployment(ctx, out.customModelDeploymentArn)
        return out

    return json_response(await to_thread(record_and_load), 202)


async def delete_deployment(identifier: str, request: "Request") -> "JSONResponse":
    ctx, _ = await authed(request)

    def delete() -> None:
        arn = ctx.jobs.get_deployment(identifier).customModelDeploymentArn
        ctx.jobs.delete_deployment(arn)
        ctx.registry.remove(arn)

    await to_thread(delete)
    return json_response(None)


def _store_logs(ctx: ServeContext) -> None:
    """Store the buffered invocation logs; a store that refuses is a retryable 503, and no job."""
    try:
        ctx.logs.flush()
    except Exception as exc:  # the records stay queued (and in the write-ahead log) for the retry
        log.warning("storing invocation logs before a job failed: %s", exc)
        raise ServiceUnavailableError(
            "the invocation logs could not be stored before the job; retry shortly"
        ) from exc


# ------------------------------------------------------------------------------------- routes


def router() -> "APIRouter":
    """All control-plane routes. Identifiers use ``:path`` because ARNs contain slashes."""
    from fastapi import APIRouter

    r = APIRouter(tags=["bedrock"])
    _job_routes(r)
    _model_routes(r)
    _deployment_routes(r)
    return r


# The route functions are nested so that fastapi is imported only when an app is built; their
# annotations are evaluated at definition (no ``from __future__ import annotations`` here), which
# FastAPI needs to recognise ``Request``.


def _job_routes(r: "APIRouter") -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    @r.post(JOBS)
    async def create_job(request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(CreateModelCustomizationJobRequest, body)
        # Every call answered so far is in the write-ahead log (fsynced before it answered); storing
        # them now, before the job exists, means a job on invocation logs reads every call made
        # before it was created, however long the flush interval.
        if req.trainingDataConfig.invocationLogsConfig is not None:
            await to_thread(_store_logs, ctx)
        return json_response(await to_thread(ctx.jobs.create_job, req), 201)

    @r.get(JOBS)
    async def list_jobs(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.list_jobs, query(request)))

    @r.post(JOBS + "/{job_identifier:path}/stop")
    async def stop_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(ctx.jobs.stop_job, job_identifier)
        return json_response(None)

    @r.get(JOBS + "/{job_identifier:path}")
    async def get_job(job_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_job, job_identifier))


def _model_routes(r: "APIRouter") -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    @r.get(MODELS)
    async def list_models(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.list_custom_models, query(request)))

    @r.get(MODELS + "/{model_identifier:path}")
    async def get_model(model_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_custom_model, model_identifier))

    @r.delete(MODELS + "/{model_identifier:path}")
    async def delete_model(model_identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(ctx.jobs.delete_custom_model, model_identifier)
        return json_response(None)


def _deployment_routes(r: "APIRouter") -> None:
    from fastapi import Request
    from fastapi.responses import JSONResponse

    @r.post(DEPLOYMENTS)
    async def _create_deployment(request: Request) -> JSONResponse:
        return await create_deployment(request)

    @r.get(DEPLOYMENTS)
    async def list_deployments(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.list_deployments, query(request)))

    @r.get(DEPLOYMENTS + "/{identifier:path}")
    async def get_deployment(identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_deployment, identifier))

    @r.delete(DEPLOYMENTS + "/{identifier:path}")
    async def _delete_deployment(identifier: str, request: Request) -> JSONResponse:
        return await delete_deployment(identifier, request)
