"""The datasets page: upload a JSONL file into the object store and read the validator's report of
it (the one dataset reader, ``read_dataset``: line-numbered problems, what was kept)."""

import re
from asyncio import to_thread
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError, StillhouseError
from stillhouse.serve.console.job_pages import DATASETS, dataset_uris
from stillhouse.serve.console.web import PREFIX, render, require_csrf
from stillhouse.serve.context import read_body

if TYPE_CHECKING:
    from fastapi import APIRouter

PROFILES = ("distillation", "fine-tuning")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}\.jsonl$")


def dataset_uri(name: str) -> str:
    """Where an upload named ``name`` goes: one flat bucket, a file name without path parts."""
    if not _FILE.match(name):
        raise InvalidInputError(
            f"bad file name {name!r}: letters, digits, '.', '_' and '-', ending in .jsonl", field="name"
        )
    return DATASETS + name


def upload(name: str, data: bytes) -> str:
    from stillhouse.sources.objectstore import open_store

    uri = dataset_uri(name)
    if not data.strip():
        raise InvalidInputError("the file is empty", field="file")
    open_store().put_bytes(uri, data)
    return uri


def report(uri: str, profile: str) -> dict[str, Any]:
    """The validator's report of an uploaded dataset (only ``s3://`` URIs: never a server path)."""
    from stillhouse.sources.dataset import read_dataset
    from stillhouse.sources.objectstore import open_store

    if not uri.startswith("s3://"):
        raise InvalidInputError("a dataset is an s3:// URI in the object store", field="uri")
    if profile not in PROFILES:
        raise InvalidInputError(
            f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}", field="profile"
        )
    records, found = read_dataset(uri, profile, "report", store=open_store())
    return {"report": found, "kept": list(zip(found.kept_lines, records, strict=False))[:20]}


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse, Response

    r = APIRouter()

    @r.get("/datasets")
    async def datasets(request: Request) -> Response:
        uri, profile = request.query_params.get("uri"), request.query_params.get("profile") or PROFILES[0]
        shown, error = None, None
        if uri:
            try:
                shown = await to_thread(report, uri, profile)
            except StillhouseError as exc:
                error = str(exc)
        uris = await to_thread(dataset_uris)
        return render(
            request,
            "datasets.html.j2",
            uris=uris,
            uri=uri,
            profile=profile,
            profiles=PROFILES,
            shown=shown,
            error=error,
        )

    @r.post("/datasets/upload")
    async def _upload(request: Request) -> Response:
        """The file's bytes as the body (the page's script sends it), its name in ``?name=``."""
        require_csrf(request)
        uri = await to_thread(upload, request.query_params.get("name", ""), await read_body(request))
        profile = request.query_params.get("profile") or PROFILES[0]
        return JSONResponse({"uri": uri, "report": f"{PREFIX}/datasets?uri={uri}&profile={profile}"}, 201)

    return r
