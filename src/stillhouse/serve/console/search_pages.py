"""The search page (the engine called in-process, the server's one :class:`SearchEngine`) and the
media route that serves an indexed segment's keyframe and video, with HTTP range requests."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from stillhouse.errors import NotFoundError, StillhouseError
from stillhouse.serve.console import views
from stillhouse.serve.console.web import render
from stillhouse.serve.errors import describe_validation_error
from stillhouse.tasks.video_router.prompt import MODALITIES

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response

    from stillhouse.search.engine import SearchResponse

COMPARED = ("routed", "rrf", "uniform", "combined")
MEDIA_KINDS = ("keyframe", "media")


def _requests(params: dict[str, str], version: int) -> list[Any]:
    """The searches one page asks for: one, or one per fusion strategy when comparing."""
    from stillhouse.search.engine import SearchRequest

    base: dict[str, Any] = {"query": params.get("q", ""), "index": params["index"], "version": version}
    base["k"] = params.get("k") or 10
    if params.get("override"):
        base["weights"] = {m: params.get(f"w_{m}") or 0 for m in MODALITIES}
    if params.get("compare"):
        return [SearchRequest(**base, fusion=f) for f in COMPARED]  # type: ignore[arg-type]
    return [SearchRequest(**base, fusion=params.get("fusion") or "routed")]


Columns = list[tuple[str, "SearchResponse"]]


def run_searches(request: "Request", params: dict[str, str]) -> tuple[int | None, Columns, str | None]:
    """The index version searched and ``[(strategy, response)]``, or the message the API would
    give for the same input."""
    from stillhouse.search import config as cfg
    from stillhouse.serve.search_api import engine

    try:
        version = cfg.require_manifest(params["index"]).current().version
        searches = _requests(params, version)
        return version, [(r.fusion, engine(request).search(r)) for r in searches], None
    except ValidationError as exc:
        return None, [], str(describe_validation_error(exc))
    except StillhouseError as exc:
        return None, [], str(exc)


async def search_page(request: "Request") -> "Response":
    from starlette.concurrency import run_in_threadpool

    from stillhouse.search import config as cfg

    params = dict(request.query_params)
    indexes = cfg.list_indexes()
    params.setdefault("index", indexes[0] if indexes else "")
    version, columns, error = None, [], None
    if params.get("q", "").strip() and params["index"]:
        version, columns, error = await run_in_threadpool(run_searches, request, params)
    return render(
        request,
        "search.html.j2",
        indexes=indexes,
        params=params,
        columns=columns,
        error=error,
        version=version,
        modalities=MODALITIES,
        colours=views.COLOURS,
        views=views,
    )


def media_file(request: "Request", index: str, version: int, segment_id: int, kind: str) -> Path:
    """The keyframe or video file the index recorded for a segment (absolute local paths only)."""
    from stillhouse.serve.search_api import engine

    if kind not in MEDIA_KINDS:
        raise NotFoundError(f"no media kind {kind!r}; use one of {', '.join(MEDIA_KINDS)}", field="kind")
    recorded = engine(request).segment_info(index, segment_id, version).get(kind)
    path = Path(recorded) if recorded else None
    if path is None or not path.is_absolute() or not path.is_file():
        raise NotFoundError(f"segment {segment_id} of {index!r} has no {kind} file here", field=kind)
    return path


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import FileResponse, Response
    from starlette.concurrency import run_in_threadpool

    r = APIRouter()

    @r.get("/search")
    async def _search(request: Request) -> Response:
        return await search_page(request)

    @r.get("/media/{index}/{version}/{segment_id}/{kind}")
    async def _media(index: str, version: int, segment_id: int, kind: str, request: Request) -> Response:
        path = await run_in_threadpool(media_file, request, index, version, segment_id, kind)
        return FileResponse(path)  # answers Range with 206 and Content-Range, If-Range included

    return r
