"""The Bedrock runtime through boto3's unchanged ``bedrock-runtime`` client, and the invocation log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import deploy, fake_loader

from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs
from stillhouse.sources.objectstore import LocalObjectStore

USER = [{"role": "user", "content": [{"text": "find the guitar solo"}]}]


def test_converse_by_every_identifier(bedrock: Any, runtime: Any, jobs: Any, home: Path) -> None:
    model_arn, dep_arn = deploy(bedrock, jobs, home)
    for model_id in (model_arn, dep_arn, "router-dep", "router-v1", "fake-catalog"):
        out = runtime.converse(
            modelId=model_id,
            messages=USER,
            system=[{"text": "route it"}],
            inferenceConfig={"maxTokens": 20, "temperature": 0.0, "topP": 0.9, "stopSequences": ["\n\n"]},
        )
        assert out["output"]["message"] == {
            "role": "assistant",
            "content": [{"text": "echo: find the guitar solo"}],
        }
        assert out["stopReason"] == "end_turn"
        assert out["usage"]["totalTokens"] == out["usage"]["inputTokens"] + out["usage"]["outputTokens"] > 0
        assert out["metrics"]["latencyMs"] >= 0


def test_request_metadata_lands_in_the_invocation_log(runtime: Any, app: Any, home: Path) -> None:
    for use_case, text in (
        ("router", "sunset over mountains"),
        ("other", "tax forms"),
        ("router", "drum solo"),
    ):
        runtime.converse(
            modelId="fake-catalog",
            messages=[{"role": "user", "content": [{"text": text}]}],
            requestMetadata={"use_case": use_case},
        )
    assert app.state.ctx.logs.flush() == 3
    store = LocalObjectStore(home / "s3")
    keys = store.list("s3://stillhouse-logs/invocation-logs/")
    assert keys and all(k.endswith(".json.gz") for k in keys)
    assert all(len(k.split("invocation-logs/")[1].split("/")) == 5 for k in keys)  # YYYY/MM/DD/HH/file

    config = InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": True,
            "invocationLogSource": {"s3Uri": "s3://stillhouse-logs/invocation-logs/"},
            "requestMetadataFilters": {"equals": {"use_case": "router"}},
        }
    )
    records, report = read_invocation_logs(config, teacher_model_id="fake-catalog", store=store)
    assert report.kept == 2 and report.filtered_out == 1 and not report.problems
    assert [r.messages[0].text for r in records] == ["sunset over mountains", "drum solo"]
    assert [r.answer for r in records] == ["echo: sunset over mountains", "echo: drum solo"]


def test_failed_calls_are_logged_with_their_error(runtime: Any, app: Any, home: Path) -> None:
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId="not-deployed", messages=USER, requestMetadata={"use_case": "router"})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    app.state.ctx.logs.flush()
    raw = LocalObjectStore(home / "s3").list("s3://stillhouse-logs/")
    import gzip

    lines = [
        json.loads(line)
        for uri in raw
        for line in gzip.decompress(
            Path(LocalObjectStore(home / "s3").local_path(uri)).read_bytes()
        ).splitlines()
    ]
    assert [(rec["errorCode"], rec["modelId"], rec["requestMetadata"]) for rec in lines] == [
        ("ResourceNotFoundException", "not-deployed", {"use_case": "router"})
    ]
    assert "output" not in lines[0] and lines[0]["schemaType"] == "ModelInvocationLog"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        (
            {"schemaVersion": "messages-v1", "messages": USER, "inferenceConfig": {"max_new_tokens": 8}},
            lambda b: b["output"]["message"]["content"][0]["text"],
        ),
        (
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 8,
                "system": "s",
                "messages": [{"role": "user", "content": "find the guitar solo"}],
            },
            lambda b: b["content"][0]["text"],
        ),
        ({"prompt": "find the guitar solo", "max_gen_len": 8}, lambda b: b["generation"]),
    ],
)
def test_invoke_model_dialects(runtime: Any, body: dict[str, Any], answer: Any) -> None:
    out = runtime.invoke_model(
        modelId="fake-catalog",
        body=json.dumps(body),
        contentType="application/json",
        requestMetadata=json.dumps({"use_case": "router"}),
    )
    assert answer(json.loads(out["body"].read())) == "echo: find the guitar solo"


def signed_post(
    server: str, settings: Any, path: str, body: bytes, headers: dict[str, str] | None = None
) -> Any:
    """POST a raw body signed as boto3 would (bypassing botocore's own parameter checks)."""
    import httpx
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(
        method="POST",
        url=server + path,
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    creds = Credentials(settings.access_key_id, settings.secret_access_key.get_secret_value())
    SigV4Auth(creds, "bedrock", "us-east-1").add_auth(req)
    return httpx.post(server + path, content=body, headers=dict(req.headers.items()))


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/model/fake-catalog/converse", b'{"messages": [', "JSON"),
        ("/model/fake-catalog/converse", b"", "empty"),
        ("/model/fake-catalog/invoke", b"[1]", "JSON object"),
        ("/model-customization-jobs", b"not json", "JSON"),
        (
            "/model/fake-catalog/converse",
            json.dumps({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}).encode(),
            "user",
        ),
        (
            "/model/fake-catalog/converse",
            json.dumps({"messages": USER, "toolConfig": {"tools": []}}).encode(),
            "toolConfig",
        ),
        (
            "/model/fake-catalog/converse",
            json.dumps({"messages": USER, "inferenceConfig": {"maxTokens": 0}}).encode(),
            "maxTokens",
        ),
        (
            "/model/fake-catalog/converse",
            json.dumps({"messages": USER, "requestMetadata": {"k": "bad\u0000"}}).encode(),
            "requestMetadata",
        ),
        (
            "/model/fake-catalog/invoke",
            json.dumps({"prompt": "x", "max_gen_len": -1}).encode(),
            "max_gen_len",
        ),
    ],
)
def test_bad_signed_requests_are_400_naming_the_problem(
    server: str, settings: Any, path: str, body: bytes, needle: str
) -> None:
    r = signed_post(server, settings, path, body)
    assert r.status_code == 400, r.text
    assert r.headers["x-amzn-ErrorType"].startswith("ValidationException")
    assert needle in r.json()["message"]


def test_unsigned_runtime_calls_are_refused_before_parsing(client: Any) -> None:
    for path in ("/model/fake-catalog/converse", "/model/fake-catalog/invoke", "/model-customization-jobs"):
        r = client.post(path, content=b'{"messages": [', headers={"content-type": "application/json"})
        assert r.status_code == 403, r.text
        assert r.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
        assert r.json() == {"message": "Missing Authentication Token"}


def test_openai_malformed_json_is_400(client: Any) -> None:
    r = client.post(
        "/v1/chat/completions", content=b"{nope", headers={"authorization": "Bearer sk-test-stillhouse"}
    )
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_invoke_metadata_header_must_be_json(server: str, settings: Any) -> None:
    body = json.dumps({"prompt": "x"}).encode()
    r = signed_post(
        server,
        settings,
        "/model/fake-catalog/invoke",
        body,
        headers={"X-Amzn-Bedrock-Request-Metadata": "use_case=router"},
    )
    assert r.status_code == 400 and "X-Amzn-Bedrock-Request-Metadata" in r.json()["message"]


def test_body_size_limit(client: Any, app: Any) -> None:
    limit = app.state.ctx.settings.max_body_bytes
    r = client.post(
        "/v1/chat/completions",
        content=b"x" * (limit + 1),
        headers={"authorization": "Bearer sk-test-stillhouse"},
    )
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]


def test_creating_deployment_answers_model_not_ready(client: Any, app: Any) -> None:
    import threading

    gate = threading.Event()
    registry = app.state.ctx.registry
    registry._loader = lambda spec: (gate.wait(5), fake_loader(spec))[1]
    registry.deploy("dep-slow", "/models/slow", ("slow-model",))
    r = client.post(
        "/v1/chat/completions",
        json={"model": "slow-model", "messages": [{"role": "user", "content": "hi"}]},
        headers={"authorization": "Bearer sk-test-stillhouse"},
    )
    gate.set()
    assert r.status_code == 429 and r.json()["error"]["code"] == "ModelNotReadyException"


def test_health_needs_no_credentials(client: Any) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and "secret" not in json.dumps(body).lower()


def test_deployments_are_restored_after_a_restart(settings: Any, jobs: Any, home: Path) -> None:
    """A new app over the same job database reloads the Active deployments it finds."""
    from fastapi.testclient import TestClient
    from tests.serve.helpers import make_custom_model

    from stillhouse.serve.app import create_app

    model_arn = make_custom_model(jobs, home)
    dep = jobs.create_deployment({"modelDeploymentName": "kept", "modelArn": model_arn})
    jobs.mark_deployment(dep.customModelDeploymentArn, "Active")
    app = create_app(settings, jobs=jobs, model_loader=fake_loader, catalog_names=frozenset())
    with TestClient(app):
        pool = app.state.ctx.registry.resolve(model_arn)
        pool.loaded.result(timeout=5)
        assert pool.status == "Active" and app.state.ctx.registry.resolve("kept") is pool


def test_unknown_routes_and_methods_keep_the_dialect(client: Any) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404 and r.headers["x-amzn-ErrorType"].startswith("ResourceNotFoundException")
    r = client.put("/model-customization-jobs")
    assert r.status_code == 405 and "message" in r.json()
    r = client.get("/v1/nothing", headers={"authorization": "Bearer sk-test-stillhouse"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


@pytest.mark.parametrize(
    ("messages", "reason"),
    [
        ([{"role": "user", "content": [{"text": ""}]}], "messages.0.content.0 is blank"),
        ([{"role": "user", "content": [{"text": " \n\t"}]}], "messages.0.content.0 is blank"),
        (
            [
                {"role": "user", "content": [{"text": "a"}]},
                {"role": "assistant", "content": [{"text": "b"}]},
                {"role": "user", "content": [{"text": "c"}, {"text": ""}]},
            ],
            "messages.2.content.1 is blank",
        ),
        (
            [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}],
            "must alternate between user and assistant roles",
        ),
        ([{"role": "assistant", "content": [{"text": "a"}]}], "must start with a user message"),
    ],
)
def test_converse_refuses_what_bedrock_refuses(runtime: Any, messages: list[Any], reason: str) -> None:
    """Blank text and consecutive same-role turns are Bedrock ValidationExceptions, in its words."""
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId="fake-catalog", messages=messages)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert reason in err.value.response["Error"]["Message"]


def test_fifty_concurrent_identical_converse_calls_all_succeed(server: str, app: Any) -> None:
    """botocore signs with 1-second resolution, so these share one signature: Bedrock serves all."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from botocore.config import Config
    from tests.serve.helpers import KEY_ID, REGION, SECRET

    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=server,
        region_name=REGION,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=50),
    )

    def call(_: int) -> str:
        out = client.converse(
            modelId="fake-catalog", messages=[{"role": "user", "content": [{"text": "same"}]}]
        )
        return str(out["output"]["message"]["content"][0]["text"])

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(call, range(50)))
    assert answers == ["echo: same"] * 50
    assert app.state.ctx.logs.flush() == 50  # and every one of them was logged
