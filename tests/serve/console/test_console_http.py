"""The console's refusals and its media route over HTTP (httpx on loopback, no browser)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from tests.serve.console.conftest import Served
from tests.serve.helpers import API_KEY

pytestmark = pytest.mark.integration
FORM = {"content-type": "application/x-www-form-urlencoded"}


def login(url: str, key: str = API_KEY) -> tuple[httpx.Client, httpx.Response]:
    client = httpx.Client(base_url=url, follow_redirects=False)
    page = client.get("/console/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return client, client.post("/console/login", content=f"csrf={token}&api_key={key}", headers=FORM)


def csrf_of(client: httpx.Client, path: str = "/console/jobs") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/console/search", "/console/jobs", "/console/models", "/console/datasets"])
def test_without_a_session_every_page_redirects_to_the_login_page(served: Served, path: str):
    response = httpx.get(served.url + path, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/console/login?next={path}"


def test_a_forged_or_expired_session_cookie_is_no_session(served: Served):
    client, _ = login(served.url)
    good = client.cookies["stillhouse_console"]
    nonce, expiry, mac = good.split(".")
    for forged in (
        f"{nonce}.{int(expiry) + 99}.{mac}",
        f"{nonce}.1.{mac}",
        "x",
        f"{nonce}.{expiry}.{'0' * 64}",
    ):
        response = httpx.get(served.url + "/console/jobs", cookies={"stillhouse_console": forged})
        assert response.status_code == 303, forged
    assert client.get("/console/jobs").status_code == 200


def test_a_wrong_key_is_refused_and_sets_no_session(served: Served):
    client, response = login(served.url, key="sk-wrong")
    assert response.status_code == 401 and "not the API key of this server" in response.text
    assert "stillhouse_console" not in client.cookies
    assert client.get("/console/jobs").status_code == 303


def test_the_login_form_needs_its_double_submit_token(served: Served):
    client = httpx.Client(base_url=served.url, follow_redirects=False)
    client.get("/console/login")
    response = client.post("/console/login", content=f"csrf=guessed&api_key={API_KEY}", headers=FORM)
    assert response.status_code == 403 and "stillhouse_console" not in client.cookies


def test_the_session_cookie_is_httponly_and_samesite_strict(served: Served):
    _, response = login(served.url)
    cookie = response.headers["set-cookie"].lower()
    assert response.status_code == 303 and "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_state_changing_requests_without_the_sessions_csrf_token_are_refused(served: Served, token: Any):
    client, _ = login(served.url)
    form = "jobName=x" + (f"&csrf={token}" if token is not None else "")
    assert client.post("/console/jobs/new", content=form, headers=FORM).status_code == 403
    headers = {"x-csrf-token": token} if token else {}
    assert (
        client.post("/console/models/converse-stream", json={"model": "x"}, headers=headers).status_code
        == 403
    )
    response = client.post("/console/datasets/upload?name=a.jsonl", content=b"{}", headers=headers)
    assert response.status_code == 403
    assert (
        client.post("/console/logout", content=form.replace("jobName=x&", ""), headers=FORM).status_code
        == 403
    )
    stop = client.post("/console/jobs/customization/any-job/stop", content=form, headers=FORM)
    assert stop.status_code == 403  # refused before the job is even looked up


def test_another_sessions_csrf_token_is_refused(served: Served):
    first, _ = login(served.url)
    second, _ = login(served.url)
    response = second.post(
        "/console/models/converse-stream", json={"model": "x"}, headers={"x-csrf-token": csrf_of(first)}
    )
    assert response.status_code == 403


def test_the_video_is_served_with_range_requests(served: Served):
    client, _ = login(served.url)
    size = served.video.stat().st_size
    path = "/console/media/demo/1/2/media"  # the concert segment (row 2) recorded the MP4
    whole = client.get(path)
    assert (
        whole.status_code == 200 and len(whole.content) == size and whole.headers["accept-ranges"] == "bytes"
    )
    part = client.get(path, headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == served.video.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert client.get(path, headers={"range": f"bytes={size + 10}-"}).status_code == 416


@pytest.mark.parametrize(
    "path",
    [
        "/console/media/demo/1/1/media",  # a segment that recorded no video
        "/console/media/demo/1/99/media",  # no such segment
        "/console/media/demo/1/2/info",  # not a media kind
        "/console/media/nope/1/2/media",  # no such index
        "/console/media/demo/7/2/media",  # no such version
        "/console/reports/..%2F..%2Fjobs.db",  # outside the reports folder
    ],
)
def test_only_files_an_index_or_the_reports_folder_recorded_are_served(served: Served, path: str):
    client, _ = login(served.url)
    assert client.get(path).status_code == 404


def test_the_job_form_shows_the_apis_own_message(served: Served):
    from tests.serve.helpers import boto_client

    from stillhouse.serve.console.job_pages import FORM_DEFAULTS

    client, _ = login(served.url)
    fields = {
        **FORM_DEFAULTS,
        "jobName": "bad-epochs",
        "customModelName": "m",
        "teacher": "t",
        "dataset": "s3://stillhouse-datasets/x.jsonl",
        "epochCount": "0",
    }
    form = "&".join(f"{k}={httpx.QueryParams({k: v})[k]}" for k, v in fields.items())
    page = client.post("/console/jobs/new", content=f"{form}&csrf={csrf_of(client)}", headers=FORM)
    bedrock = boto_client("bedrock", served.url)
    from stillhouse.serve.console.job_pages import distillation_request

    with pytest.raises(bedrock.exceptions.ValidationException) as api:
        bedrock.create_model_customization_job(**distillation_request(fields, "000000000000"))
    message = api.value.response["Error"]["Message"]
    assert page.status_code == 400 and "epochCount" in message
    assert f'id="form-error">{message}<' in page.text.replace("&#39;", "'").replace("&#34;", '"')


def test_stopping_a_finished_job_shows_the_apis_conflict_as_a_page(served: Served):
    from stillhouse.jobs import state

    job = served.jobs.create_job(
        {
            "jobName": "finished-job",
            "customModelName": "finished-model",
            "roleArn": "arn:aws:iam::1:role/x",
            "baseModelIdentifier": "smollm2-135m",
            "customizationType": "FINE_TUNING",
            "trainingDataConfig": {"s3Uri": "s3://d/t.jsonl"},
            "outputDataConfig": {"s3Uri": "s3://o/"},
        }
    )
    served.jobs.transition(served.jobs.job_id(job.jobArn), lambda j: state.fail(j, "gone", state.now()))
    client, _ = login(served.url)
    token = csrf_of(client, "/console/jobs/customization/finished-job")
    page = client.post("/console/jobs/customization/finished-job/stop", content=f"csrf={token}", headers=FORM)
    assert page.status_code == 409 and "ConflictException" in page.text
    assert client.get("/console/jobs/customization/no-such-job").status_code == 404


def sse_events(text: str) -> list[tuple[str, dict]]:
    import json

    frames = [f for f in text.split("\n\n") if f.startswith("event: ")]
    return [(f.split("\n")[0][7:], json.loads(f.split("\n")[1][6:])) for f in frames]


def test_the_playground_streams_as_server_sent_events(served: Served):
    from tests.serve.helpers import boto_client, deploy

    if not served.jobs.list_deployments({}).modelDeploymentSummaries:
        deploy(boto_client("bedrock", served.url), served.jobs, served.home)
    arn = served.jobs.list_deployments({}).modelDeploymentSummaries[0].customModelDeploymentArn
    client, _ = login(served.url)
    token = csrf_of(client, "/console/models")
    body = {"model": arn, "messages": [{"role": "user", "text": "stream me please"}]}
    with client.stream(
        "POST", "/console/models/converse-stream", json=body, headers={"x-csrf-token": token}
    ) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.read().decode())
    deltas = [data["text"] for name, data in events if name == "delta"]
    assert "".join(deltas) == "echo: stream me please" and len(deltas) == 4  # the fake streams by word
    assert events[-1][0] == "end" and events[-1][1]["stopReason"] == "end_turn"
    assert events[-1][1]["usage"] == {"inputTokens": 3, "outputTokens": 4}
    import json

    wal = served.home / "serve" / "invocation-log-wal"  # the records not yet flushed to the store
    records = [json.loads(line) for f in wal.glob("*.wal.jsonl") for line in f.read_text().splitlines()]
    logged = [r for r in records if r["modelId"] == arn and "stream me please" in json.dumps(r["input"])]
    assert [r["operation"] for r in logged] == ["ConverseStream"]  # the API's streamed call, logged as it


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "no-such-deployment", "messages": [{"role": "user", "text": "hi"}]}, 404, "no-such"),
        ({"model": "", "messages": [{"role": "user", "text": "hi"}]}, 400, "pick a deployment"),
        ({"model": "x", "messages": []}, 400, "write a message"),
    ],
)
def test_a_stream_refused_before_its_first_delta_is_an_http_error(
    served: Served, body: dict, status: int, words: str
):
    client, _ = login(served.url)
    token = csrf_of(client, "/console/models")
    response = client.post("/console/models/converse-stream", json=body, headers={"x-csrf-token": token})
    assert response.status_code == status and words in response.json()["message"]
