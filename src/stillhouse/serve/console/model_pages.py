"""The models page: custom models, deployments and provisioned throughput, a playground that streams
(the runtime's own ConverseStream call, logged as one, framed as server-sent events) and the
evaluation reports under ``STILLHOUSE_HOME/evaluations``, opened in place."""

from asyncio import to_thread
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.serve.console.web import render, require_csrf
from stillhouse.serve.context import ServeContext, context, parse_json_object, read_body

if TYPE_CHECKING:
    from fastapi import APIRouter

REPORT = "report.html"


def reports_root() -> Path:
    """Where the console looks for ``stillhouse evaluate --out`` folders."""
    from stillhouse import paths

    return paths.home() / "evaluations"


def list_reports(root: Path | None = None, limit: int = 200) -> list[str]:
    """Report paths relative to the root, newest first."""
    root = root or reports_root()
    if not root.is_dir():
        return []
    found = sorted(root.rglob(REPORT), key=lambda p: p.stat().st_mtime, reverse=True)[:limit]
    return [str(p.relative_to(root).parent) for p in found]


def report_file(name: str, root: Path | None = None) -> Path:
    """A listed report by its folder name; anything resolving outside the root is not found."""
    root = (root or reports_root()).resolve()
    path = (root / name / REPORT).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFoundError(f"no evaluation report {name!r} under {root}", field="report")
    return path


def models_view(ctx: ServeContext) -> dict[str, Any]:
    models = ctx.jobs.list_custom_models({"maxResults": 100}).modelSummaries
    deployments = ctx.jobs.list_deployments({"maxResults": 100}).modelDeploymentSummaries
    provisioned = ctx.jobs.list_provisioned({"maxResults": 100}).provisionedModelSummaries
    return {
        "models": models,
        "deployments": deployments,
        "provisioned": provisioned,
        "reports": list_reports(),
    }


def playground_body(payload: dict[str, Any]) -> tuple[str, bytes]:
    """``{"model", "messages": [{"role", "text"}], "maxTokens"?}`` -> the ConverseStream model id and body."""
    import json

    model = payload.get("model")
    turns = payload.get("messages")
    if not isinstance(model, str) or not model:
        raise InvalidInputError("pick a deployment or provisioned model", field="model")
    if not isinstance(turns, list) or not turns:
        raise InvalidInputError("write a message first", field="messages")
    messages = [
        {"role": t.get("role"), "content": [{"text": t.get("text")}]} for t in turns if isinstance(t, dict)
    ]
    body: dict[str, Any] = {"messages": messages}
    if payload.get("maxTokens"):
        body["inferenceConfig"] = {"maxTokens": payload["maxTokens"]}
    return model, json.dumps(body).encode()


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import FileResponse, Response

    from stillhouse.serve.console.sse import SseWire
    from stillhouse.serve.runtime_stream import converse_stream_body

    r = APIRouter()

    @r.get("/models")
    async def models(request: Request) -> Response:
        view = await to_thread(models_view, context(request))
        return render(request, "models.html.j2", **view, opened=request.query_params.get("report"))

    @r.post("/models/converse-stream")
    async def converse_stream(request: Request) -> Response:
        require_csrf(request)
        model, body = playground_body(parse_json_object(await read_body(request)))
        return await converse_stream_body(context(request), model, body, SseWire())

    @r.get("/reports/{name:path}")
    async def report(name: str, request: Request) -> Response:
        path = await to_thread(report_file, name)
        return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": "sandbox"})

    return r
