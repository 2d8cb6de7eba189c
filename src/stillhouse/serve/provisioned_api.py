"""Provisioned throughput over HTTP, and loading what a provisioned model serves.

Bedrock's paths, codes and shapes (botocore's ``bedrock`` model). A provisioned model is served as a
custom model deployment is: a pool in the model registry (:mod:`stillhouse.serve.deployments`),
here with ``modelUnits`` replicas, under its ARN and name, so ``Converse`` on the
``provisionedModelArn`` reaches it. The record (status, units, ARNs) lives in the job service
(:mod:`stillhouse.jobs.provisioned`); this module moves it ``Creating -> InService`` (or ``Failed``)
when the pool has loaded. Changing the model reloads the pool (``Updating``; calls meanwhile answer
ModelNotReadyException); a rename only changes the names it answers to.
"""

import logging
from asyncio import to_thread
from typing import TYPE_CHECKING, Any

from stillhouse.errors import NotFoundError, StillhouseError
from stillhouse.jobs.provisioned import (
    CreateProvisionedModelThroughputRequest,
    UpdateProvisionedModelThroughputRequest,
)
from stillhouse.serve.context import ServeContext, authed, json_response, parse_json, query
from stillhouse.serve.deployments import ModelPool

if TYPE_CHECKING:
    from fastapi import APIRouter

log = logging.getLogger(__name__)
ONE = "/provisioned-model-throughput"
MANY = "/provisioned-model-throughputs"


def _spec(ctx: ServeContext, model_arn: str) -> str:
    """The spec a provisioned model loads: a foundation model's mapped spec, or a custom model's folder."""
    if ":foundation-model/" in model_arn:
        return ctx.foundation.spec_for(model_arn, "modelId")
    return str(ctx.jobs.custom_model_dir(model_arn))


def start_provisioned(ctx: ServeContext, arn: str) -> ModelPool | None:
    """Load (or reload) what a provisioned model serves, ``modelUnits`` replicas, in the background;
    a model whose weights are gone marks it Failed at once."""
    pm = ctx.jobs.get_provisioned(arn)
    try:
        spec = _spec(ctx, pm.desiredModelArn)
    except NotFoundError as exc:
        ctx.jobs.mark_provisioned(arn, "Failed", str(exc))
        return None

    def done(pool: ModelPool) -> None:
        try:
            status = "InService" if pool.status == "Active" else "Failed"
            ctx.jobs.mark_provisioned(arn, status, pool.failure)
        except StillhouseError as exc:  # deleted while loading: unload again
            log.info("provisioned model %s vanished while loading: %s", arn, exc)
            ctx.registry.remove(arn)

    return ctx.registry.deploy(arn, spec, (pm.provisionedModelName,), on_done=done, workers=pm.modelUnits)


def restore_provisioned(ctx: ServeContext) -> int:
    """Reload every provisioned model not Failed (the server restarted); returns how many."""
    started, token = 0, None
    while True:
        page = ctx.jobs.list_provisioned({"maxResults": 1000, **({"nextToken": token} if token else {})})
        for pm in page.provisionedModelSummaries:
            if pm.status != "Failed" and start_provisioned(ctx, pm.provisionedModelArn) is not None:
                started += 1
        token = page.nextToken
        if not token:
            return started


def create(ctx: ServeContext, req: CreateProvisionedModelThroughputRequest) -> str:
    arn = ctx.jobs.create_provisioned(req)
    if not ctx.registry.has(arn) and ctx.jobs.get_provisioned(arn).status != "Failed":
        start_provisioned(ctx, arn)
    return arn


def update(ctx: ServeContext, identifier: str, req: UpdateProvisionedModelThroughputRequest) -> None:
    before = ctx.jobs.get_provisioned(identifier)
    after = ctx.jobs.update_provisioned(identifier, req)
    if after.status == "Updating" and before.status != "Updating":
        start_provisioned(ctx, after.provisionedModelArn)
    elif after.provisionedModelName != before.provisionedModelName:
        ctx.registry.realias(after.provisionedModelArn, (after.provisionedModelName,))


def delete(ctx: ServeContext, identifier: str) -> None:
    ctx.registry.remove(ctx.jobs.delete_provisioned(identifier))


def _summary(doc: Any) -> dict[str, Any]:
    """A ``ProvisionedModelSummary``: the details less ``failureMessage``."""
    return doc.model_dump(mode="json", exclude_none=True, exclude={"failureMessage"})


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["bedrock"])

    # Nested so that fastapi is imported only when an app is built (annotations evaluated here).
    @r.post(ONE)
    async def create_provisioned(request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(CreateProvisionedModelThroughputRequest, body)
        return JSONResponse({"provisionedModelArn": await to_thread(create, ctx, req)}, 201)

    @r.get(MANY)
    async def list_provisioned(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        page = await to_thread(ctx.jobs.list_provisioned, query(request))
        out: dict[str, Any] = {
            "provisionedModelSummaries": [_summary(p) for p in page.provisionedModelSummaries]
        }
        if page.nextToken:
            out["nextToken"] = page.nextToken
        return JSONResponse(out)

    @r.get(ONE + "/{identifier:path}")
    async def get_provisioned(identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        return json_response(await to_thread(ctx.jobs.get_provisioned, identifier))

    @r.patch(ONE + "/{identifier:path}")
    async def update_provisioned(identifier: str, request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(UpdateProvisionedModelThroughputRequest, body)
        await to_thread(update, ctx, identifier, req)
        return json_response(None)

    @r.delete(ONE + "/{identifier:path}")
    async def delete_provisioned(identifier: str, request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(delete, ctx, identifier)
        return json_response(None)

    return r
