"""The jobs pages: every kind's jobs (polled while any runs), a job's page (and its report, for a
kind that writes one), Stop, and the form that creates a distillation job through the same parsing and checks as ``CreateModelCustomizationJob``."""

import json
from asyncio import to_thread
from typing import TYPE_CHECKING, Any

from stillhouse.errors import NotFoundError, StillhouseError
from stillhouse.serve.console import views
from stillhouse.serve.console.kinds import KINDS, JobKind, JobRow, pretty
from stillhouse.serve.console.web import PREFIX, read_form, render, require_csrf
from stillhouse.serve.context import ServeContext, context, parse_json

if TYPE_CHECKING:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response

DATASETS = "s3://stillhouse-datasets/"
FORM_DEFAULTS = {
    "jobName": "",
    "customModelName": "",
    "dataset": "",
    "teacher": "",
    "student": "smollm2-135m",
    "outputUri": "s3://stillhouse-outputs/",
    "epochCount": "2",
    "batchSize": "8",
    "learningRate": "0.0001",
    "maxResponseLength": "256",
}


def _kind(slug: str) -> JobKind:
    if slug not in KINDS:
        raise NotFoundError(f"no job kind {slug!r}; the console knows {', '.join(KINDS)}", field="kind")
    return KINDS[slug]


def all_rows(ctx: ServeContext) -> list[JobRow]:
    rows = [row for kind in KINDS.values() for row in kind.rows(ctx)]
    return sorted(rows, key=lambda r: r.created, reverse=True)


def distillation_request(form: dict[str, str], account_id: str) -> dict[str, Any]:
    """The ``CreateModelCustomizationJob`` body a filled form stands for (blank fields left out,
    so the API's own messages name what is missing)."""
    hyper = {k: form[k] for k in ("epochCount", "batchSize", "learningRate") if form.get(k, "").strip()}
    teacher: dict[str, Any] = {"teacherModelIdentifier": form.get("teacher", "")}
    if form.get("maxResponseLength", "").strip():
        length = form["maxResponseLength"].strip()
        teacher["maxResponseLengthForInference"] = int(length) if length.isdigit() else length
    return {
        "jobName": form.get("jobName", ""),
        "customModelName": form.get("customModelName", ""),
        "roleArn": f"arn:aws:iam::{account_id}:role/stillhouse-console",
        "baseModelIdentifier": form.get("student", ""),
        "customizationType": "DISTILLATION",
        "trainingDataConfig": {"s3Uri": form.get("dataset", "")},
        "outputDataConfig": {"s3Uri": form.get("outputUri", "")},
        "hyperParameters": hyper,
        "customizationConfig": {"distillationConfig": {"teacherModelConfig": teacher}},
    }


def create_from_form(ctx: ServeContext, form: dict[str, str]) -> str:
    """Create the job exactly as the API does (parse the body, then the service's checks); the
    job's name, or the StillhouseError the API would have answered."""
    from stillhouse.jobs.schema import CreateModelCustomizationJobRequest

    body = json.dumps(distillation_request(form, ctx.settings.account_id)).encode()
    req = parse_json(CreateModelCustomizationJobRequest, body)
    ctx.jobs.create_job(req)
    return req.jobName


def dataset_uris() -> list[str]:
    from stillhouse.sources.objectstore import open_store

    try:
        return [u for u in open_store().list(DATASETS) if u.endswith(".jsonl")]
    except StillhouseError:
        return []


def _form_page(
    request: "Request", form: dict[str, str], error: str | None = None, status: int = 200
) -> "Response":
    return render(request, "job_new.html.j2", status, form=form, error=error, datasets=dataset_uris())


def error_page(request: "Request", exc: StillhouseError) -> "Response":
    """A refusal of a page or form as a page, in the API's words and with its status."""
    return render(request, "error.html.j2", exc.http_status, title=exc.code, message=str(exc))


def router() -> "APIRouter":
    from fastapi import APIRouter, Request
    from fastapi.responses import RedirectResponse, Response

    r = APIRouter()

    @r.get("/jobs")
    async def jobs(request: Request) -> Response:
        rows = await to_thread(all_rows, context(request))
        return render(request, "jobs.html.j2", rows=rows, kinds=KINDS)

    @r.get("/jobs/table")
    async def jobs_table(request: Request) -> Response:
        rows = await to_thread(all_rows, context(request))
        return render(request, "jobs_table.html.j2", rows=rows, kinds=KINDS)

    @r.get("/jobs/new")
    async def new_job(request: Request) -> Response:
        return _form_page(request, dict(FORM_DEFAULTS, **request.query_params))

    @r.post("/jobs/new")
    async def create_job(request: Request) -> Response:
        form = await read_form(request)
        require_csrf(request, form)
        try:
            name = await to_thread(create_from_form, context(request), form)
        except StillhouseError as exc:
            return _form_page(request, {**FORM_DEFAULTS, **form}, str(exc), exc.http_status)
        return RedirectResponse(f"{PREFIX}/jobs/customization/{name}", status_code=303)

    @r.get("/jobs/{kind}/{ident}")
    async def job(kind: str, ident: str, request: Request) -> Response:
        try:
            detail = await to_thread(_kind(kind).detail, context(request), ident)
        except StillhouseError as exc:
            return error_page(request, exc)
        return render(request, "job.html.j2", job=detail, kind=_kind(kind), views=views, pretty=pretty)

    @r.get("/jobs/{kind}/{ident}/live")
    async def job_live(kind: str, ident: str, request: Request) -> Response:
        detail = await to_thread(_kind(kind).detail, context(request), ident)
        return render(request, "job_live.html.j2", job=detail, kind=_kind(kind), views=views)

    @r.get("/jobs/{kind}/{ident}/report")
    async def job_report(kind: str, ident: str, request: Request) -> Response:
        report = _kind(kind).report
        if report is None:
            raise NotFoundError(f"a {kind} job has no report", field="report")
        html = await to_thread(report, context(request), ident)
        # Sandboxed like the evaluation reports on the models page: the report's scripts get no
        # access to the console's origin.
        return Response(html, media_type="text/html", headers={"Content-Security-Policy": "sandbox"})

    @r.post("/jobs/{kind}/{ident}/stop")
    async def stop(kind: str, ident: str, request: Request) -> Response:
        require_csrf(request, await read_form(request))
        try:
            await to_thread(_kind(kind).stop, context(request), ident)
        except StillhouseError as exc:  # e.g. the job ended meanwhile: the API's ConflictException
            return error_page(request, exc)
        return RedirectResponse(f"{PREFIX}/jobs/{kind}/{ident}", status_code=303)

    return r
