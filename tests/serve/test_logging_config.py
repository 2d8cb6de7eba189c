"""Model invocation logging configuration through boto3: Bedrock's layout, persistence, and a job
created right after the calls reading every one of them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import boto_client

from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs
from stillhouse.sources.objectstore import LocalObjectStore

CONFIG = {
    "s3Config": {"bucketName": "distill-logs", "keyPrefix": "bedrock/"},
    "textDataDeliveryEnabled": True,
    "imageDataDeliveryEnabled": False,
}
LAYOUT = "s3://distill-logs/bedrock/AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1/"


def _converse(runtime: Any, text: str) -> None:
    runtime.converse(
        modelId="fake-catalog",
        messages=[{"role": "user", "content": [{"text": text}]}],
        requestMetadata={"use_case": "router"},
    )


def test_put_get_delete(bedrock: Any, app: Any) -> None:
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == CONFIG
    assert app.state.ctx.logs.uri == LAYOUT.rstrip("/")
    bedrock.delete_model_invocation_logging_configuration()
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()
    assert app.state.ctx.logs.uri == "s3://stillhouse-logs/invocation-logs"


def test_calls_land_in_bedrocks_layout_and_a_job_right_after_sees_them_all(
    bedrock: Any, runtime: Any, home: Path
) -> None:
    """The server flushes every 60 s here (the fixture): only the flush at CreateModelCustomizationJob
    puts the calls in the store before the job reads them."""
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    for i in range(5):
        _converse(runtime, f"query {i}")
    source = {"s3Uri": "s3://distill-logs/bedrock/AWSLogs"}
    store = LocalObjectStore(home / "s3")
    assert store.list(LAYOUT) == []  # nothing stored yet: the batch is still buffered
    bedrock.create_model_customization_job(
        jobName="from-logs",
        customModelName="from-logs-model",
        roleArn="arn:aws:iam::000000000000:role/x",
        baseModelIdentifier="amazon.nova-micro-v1:0:128k",
        customizationType="DISTILLATION",
        trainingDataConfig={
            "invocationLogsConfig": {"usePromptResponse": False, "invocationLogSource": source}
        },
        outputDataConfig={"s3Uri": "s3://distill-logs/out/"},
        customizationConfig={
            "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": "amazon.nova-pro-v1:0"}}
        },
    )
    keys = store.list(LAYOUT)
    assert keys and all(k.endswith(".json.gz") for k in keys)
    assert all(len(k.removeprefix(LAYOUT).split("/")) == 5 for k in keys)  # YYYY/MM/DD/HH/file
    first = json.loads(gzip.decompress(store.get_bytes(keys[0])).splitlines()[0])
    assert first["schemaType"] == "ModelInvocationLog" and first["accountId"] == "000000000000"
    config = InvocationLogsConfig.model_validate({"invocationLogSource": source})
    records, report = read_invocation_logs(config, teacher_model_id=None, store=store)
    assert [r.messages[0].content[0].text for r in records] == [f"query {i}" for i in range(5)]
    assert report.problems == []


def test_configuration_survives_a_restart(bedrock: Any, settings: Any, jobs: Any, home: Path) -> None:
    from fastapi.testclient import TestClient
    from tests.serve.helpers import fake_loader

    from stillhouse.serve.app import create_app

    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    again = create_app(
        settings, jobs=jobs, model_loader=fake_loader, store_factory=lambda: LocalObjectStore(home / "s3")
    )
    with TestClient(again):
        assert again.state.ctx.logs.uri == LAYOUT.rstrip("/")


@pytest.mark.parametrize(
    "config",
    [
        {},  # no destination
        {"s3Config": {"bucketName": "ab"}},  # bucket name too short
        {"s3Config": {"bucketName": "logs", "keyPrefix": "a/../../escape"}},
        {"cloudWatchConfig": {"logGroupName": "g", "roleArn": "not-an-arn"}},
    ],
)
def test_bad_configurations_are_refused_and_nothing_changes(server: str, app: Any, config: dict) -> None:
    from botocore.config import Config

    client = boto_client("bedrock", server, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as info:
        client.put_model_invocation_logging_configuration(loggingConfig=config)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "loggingConfig" not in client.get_model_invocation_logging_configuration()
    assert app.state.ctx.logs.uri == "s3://stillhouse-logs/invocation-logs"


def test_a_store_that_refuses_the_logs_is_a_503_and_no_job(bedrock: Any, runtime: Any, app: Any) -> None:
    bedrock.put_model_invocation_logging_configuration(loggingConfig=CONFIG)
    _converse(runtime, "query")

    class Down:
        def put_bytes(self, uri: str, data: bytes) -> None:
            raise OSError("store is down")

    app.state.ctx.logs._store = Down()
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(
            jobName="from-logs",
            customModelName="from-logs-model",
            roleArn="arn:aws:iam::000000000000:role/x",
            baseModelIdentifier="amazon.nova-micro-v1:0:128k",
            customizationType="FINE_TUNING",
            trainingDataConfig={
                "invocationLogsConfig": {
                    "invocationLogSource": {"s3Uri": "s3://distill-logs/bedrock/AWSLogs"}
                }
            },
            outputDataConfig={"s3Uri": "s3://distill-logs/out/"},
        )
    assert info.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
