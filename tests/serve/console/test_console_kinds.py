"""Batch inference and evaluation jobs in the console (httpx on loopback, no browser): listed beside
customization jobs, a batch job's manifest counts and output URIs, an evaluation job's scores and its
report opened in place, Stop through each kind's service method."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
from tests.batch.helpers import INPUT, OUTPUT, input_lines, job_body
from tests.jobs.evaluation_helpers import DATASET, dataset_lines, eval_body
from tests.serve.console.conftest import Served, wait_for
from tests.serve.console.test_console_http import FORM, csrf_of, login
from tests.serve.helpers import boto_client

from stillhouse.jobs import state
from stillhouse.serve.console.kinds import KINDS, TERMINAL, JobRow
from stillhouse.sources.objectstore import LocalObjectStore

pytestmark = pytest.mark.integration


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("status", sorted(state.BATCH_TERMINAL | state.TERMINAL))
def test_every_kinds_end_state_is_finished(status: str):
    from datetime import UTC, datetime

    assert status in TERMINAL
    assert JobRow("batch", "j", "j", status, {}, datetime.now(UTC)).finished


@pytest.mark.parametrize("status", ["Submitted", "Validating", "Scheduled", "InProgress", "Stopping"])
def test_a_live_state_is_not_finished(status: str):
    from datetime import UTC, datetime

    assert not JobRow("batch", "j", "j", status, {}, datetime.now(UTC)).finished


def test_a_batch_jobs_page_shows_its_manifest_counts_and_output_uris(served: Served):
    store = LocalObjectStore(served.home / "s3")
    store.put_bytes(INPUT, "\n".join(input_lines(6, malformed_at=2)).encode())
    arn = boto_client("bedrock", served.url).create_model_invocation_job(**job_body("console-batch"))[
        "jobArn"
    ]
    wait_for(served.jobs, "get_invocation_job", arn, state.BATCH_TERMINAL)
    client, _ = login(served.url)
    listing = text_of(client.get("/console/jobs/table").text)
    assert "console-batch Batch inference PartiallyCompleted 6/6 records, 1 failed" in listing
    page = client.get("/console/jobs/batch/console-batch")
    job_id = arn.rsplit("/", 1)[1]
    manifest = json.loads(store.get_bytes(f"{OUTPUT}{job_id}/manifest.json.out"))
    counts = dict(re.findall(r'data-count="(\w+)"><strong>(\d+)</strong>', page.text))
    assert counts == {k: str(v) for k, v in manifest.items()}  # the token counts too
    assert counts["successRecordCount"] == "5" and counts["errorRecordCount"] == "1"
    uris = re.findall(r"<li><code>(s3://[^<]+)</code></li>", page.text)
    assert uris == [f"{OUTPUT}{job_id}/manifest.json.out", f"{OUTPUT}{job_id}/records.jsonl.out"]
    assert "Training loss" not in page.text and "Stop</button>" not in page.text
    assert '<p id="ran-on">Model calls ran on local, 1 worker</p>' in page.text


def test_an_evaluation_jobs_page_shows_its_scores_and_opens_its_report(served: Served):
    store = LocalObjectStore(served.home / "s3")
    store.put_bytes(DATASET, "\n".join(dataset_lines(2)).encode())
    arn = boto_client("bedrock", served.url).create_evaluation_job(**eval_body("console-eval"))["jobArn"]
    job = wait_for(served.jobs, "get_evaluation_job", arn, state.TERMINAL)
    assert job.status == "Completed", job.failureMessages
    client, _ = login(served.url)
    assert "console-eval Evaluation Completed" in text_of(client.get("/console/jobs/table").text)
    page = client.get("/console/jobs/evaluation/console-eval")
    summary = json.loads(
        store.get_bytes(f"s3://eval-out/results/console-eval/{arn.rsplit('/', 1)[1]}/summary.json")
    )
    cells = dict(re.findall(r'<td data-metric="([^"]+)">([^ ]+) ', page.text))
    assert cells == {m: f"{v['mean']:.3f}" for m, v in summary["student-model"].items() if m != "cost"}
    assert 'src="/console/jobs/evaluation/console-eval/report" sandbox' in page.text
    assert '<p id="ran-on">Model calls ran on local, 1 worker</p>' in page.text
    report = client.get("/console/jobs/evaluation/console-eval/report")
    assert report.status_code == 200 and report.headers["content-security-policy"] == "sandbox"
    assert "<html" in report.text.lower() and "console-eval" in report.text
    assert client.get("/console/jobs/batch/console-eval/report").status_code == 404  # batch has none


def test_stop_on_a_finished_batch_job_is_the_apis_conflict(served: Served):
    store = LocalObjectStore(served.home / "s3")
    store.put_bytes(INPUT, "\n".join(input_lines(2)).encode())
    arn = boto_client("bedrock", served.url).create_model_invocation_job(**job_body("done-batch"))["jobArn"]
    wait_for(served.jobs, "get_invocation_job", arn, state.BATCH_TERMINAL)
    client, _ = login(served.url)
    token = csrf_of(client, "/console/jobs/batch/done-batch")
    page = client.post("/console/jobs/batch/done-batch/stop", content=f"csrf={token}", headers=FORM)
    assert page.status_code == 409 and "ConflictException" in page.text
    assert client.get("/console/jobs/evaluation/no-such-eval").status_code == 404


@pytest.mark.parametrize(
    ("kind", "create", "get"),
    [
        ("batch", "create_invocation_job", "get_invocation_job"),
        ("evaluation", "create_evaluation_job", "get_evaluation_job"),
    ],
)
def test_stop_goes_through_each_kinds_service_method(tmp_path: Any, kind: str, create: str, get: str):
    from stillhouse.jobs.service import JobService

    jobs = JobService(tmp_path / "jobs.db")  # no worker holds the job: Stopped at once, as the API does
    body = job_body("to-stop") if kind == "batch" else eval_body("to-stop")
    getattr(jobs, create)(body)
    ctx = SimpleNamespace(jobs=jobs, open_store=lambda: LocalObjectStore(tmp_path / "s3"))
    KINDS[kind].stop(ctx, "to-stop")  # type: ignore[arg-type]
    assert getattr(jobs, get)("to-stop").status == "Stopped"
    assert KINDS[kind].detail(ctx, "to-stop").row.finished  # type: ignore[arg-type]
