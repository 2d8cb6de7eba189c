"""AWS's two distillation notebooks' calls, arguments as published, against the server.

The S3-input notebook (``Distillation-via-S3-input.ipynb``) runs with only ``AWS_ENDPOINT_URL`` and
keys set: sts, s3 (create_bucket, upload_file, list_objects_v2), create_model_customization_job on
the uploaded prompts, the job run, its metrics read back through S3, provisioned throughput and
converse / converse_stream on it. The invocation-log notebook: put_model_invocation_logging_configuration, converse on the teacher's inference profile,
create_model_customization_job on the logs' AWSLogs prefix (right after the calls), the job run,
create_provisioned_model_throughput on its custom model, converse on the provisionedModelArn.

The foundation-model table is the only thing set: the teacher's ids map to a FakeModel, the student's
to a tiny random-weight Llama built here, which the job trains and the provisioned model serves
through the real transformers loader (marked model: seconds)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.jobs.helpers import build_tiny_student, prompt_line, router_prompts
from tests.serve.helpers import KEY_ID, REGION, SECRET, fake_loader

pytestmark = pytest.mark.model

TEACHER = "us.amazon.nova-premier-v1:0"
STUDENT = "amazon.nova-micro-v1:0:128k"


@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_student(tmp_path_factory.mktemp("student"))


@pytest.fixture
def model_loader(home: Path, tiny_student: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The conftest app's, with a foundation-model table and a loader that loads real folders."""
    from stillhouse.models import load_model
    from stillhouse.models.foundation import ENV_FILE

    table = home / "foundation-models.json"
    table.write_text(json.dumps({"amazon.nova-premier-v1:0": "fake-teacher", STUDENT: str(tiny_student)}))
    monkeypatch.setenv(ENV_FILE, str(table))  # the server and the job (the worker's env) read it

    def loader(spec: str) -> Any:
        return fake_loader(spec) if spec.startswith("fake-") else load_model(spec)

    return loader


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset()


def _wait(get: Any, key: str, done: set[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while (out := get())[key] not in done:
        assert time.monotonic() < deadline, out
        time.sleep(0.1)
    return out


def _provision(bedrock: Any, job_arn: str, name: str) -> str:
    """The notebooks' last cells: one model unit of the job's custom model, waited for until InService."""
    custom_model_arn = bedrock.get_model_customization_job(jobIdentifier=job_arn)["outputModelArn"]
    provisioned_arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName=name, modelId=custom_model_arn
    )["provisionedModelArn"]
    pm = _wait(
        lambda: bedrock.get_provisioned_model_throughput(provisionedModelId=provisioned_arn),
        "status",
        {"InService", "Failed"},
    )
    assert pm["status"] == "InService", pm.get("failureMessage")
    return str(provisioned_arn)


def test_invocation_log_distillation_through_provisioned_throughput(
    bedrock: Any, runtime: Any, jobs: Any, home: Path
) -> None:
    from stillhouse.jobs.pipeline import run_job
    from stillhouse.jobs.stages import DefaultStages
    from stillhouse.sources.objectstore import LocalObjectStore

    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": "distill-bucket", "keyPrefix": "invocation-logs"},
            "textDataDeliveryEnabled": True,
            "imageDataDeliveryEnabled": True,
            "embeddingDataDeliveryEnabled": True,
        }
    )
    for prompt in router_prompts(110):
        runtime.converse(
            modelId=TEACHER,
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            inferenceConfig={"maxTokens": 64, "temperature": 0},
            requestMetadata={"project": "CustomerService", "intent": "ComplaintResolution"},
        )
    arn = bedrock.create_model_customization_job(
        jobName="distill-from-logs",
        customModelName="distilled-from-logs",
        roleArn="arn:aws:iam::000000000000:role/BedrockDistillation",
        baseModelIdentifier=STUDENT,
        customizationType="DISTILLATION",
        trainingDataConfig={
            "invocationLogsConfig": {
                "usePromptResponse": True,
                "invocationLogSource": {"s3Uri": "s3://distill-bucket/invocation-logs/AWSLogs"},
                "requestMetadataFilters": {"equals": {"project": "CustomerService"}},
            }
        },
        outputDataConfig={"s3Uri": "s3://distill-bucket/output/"},
        hyperParameters={"epochCount": "1", "batchSize": "64"},
        customizationConfig={
            "distillationConfig": {
                "teacherModelConfig": {"teacherModelIdentifier": TEACHER, "maxResponseLengthForInference": 64}
            }
        },
    )["jobArn"]
    stages = DefaultStages(embedder="hashing", store=LocalObjectStore(home / "s3"))
    job = run_job(jobs, jobs.job_id(arn), stages, lambda: False)  # what a worker does
    assert job.status == "Completed", job.failureMessage
    assert jobs.progress(jobs.job_id(arn))["log_report"]["kept"] == 110  # every call before the job

    provisioned_model_id = _provision(bedrock, arn, "distilled-from-logs-pt")
    out = runtime.converse(
        modelId=provisioned_model_id,
        messages=[{"role": "user", "content": [{"text": "red car dog"}]}],
        inferenceConfig={"maxTokens": 4, "temperature": 0},
    )
    assert out["stopReason"] in ("end_turn", "max_tokens") and out["usage"]["outputTokens"] >= 1
    bedrock.delete_provisioned_model_throughput(provisionedModelId=provisioned_model_id)


def test_s3_input_distillation_runs_with_only_aws_endpoint_url_set(
    server: str, jobs: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from stillhouse.jobs.pipeline import run_job
    from stillhouse.jobs.stages import DefaultStages
    from stillhouse.sources.objectstore import LocalObjectStore

    for name, value in (
        ("AWS_ENDPOINT_URL", server),
        ("AWS_ACCESS_KEY_ID", KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    session = boto3.session.Session()
    s3_client, bedrock_client = session.client("s3"), session.client(service_name="bedrock")
    bedrock_runtime = session.client(service_name="bedrock-runtime")
    account_id = session.client("sts").get_caller_identity()["Account"]
    bucket_name = f"bedrock-distillation-{account_id}"
    s3_client.create_bucket(Bucket=bucket_name)
    dataset = tmp_path / "training-data.jsonl"
    dataset.write_text("\n".join(prompt_line(p) for p in router_prompts(110)) + "\n")
    s3_client.upload_file(str(dataset), bucket_name, "data/training-data.jsonl")

    arn = bedrock_client.create_model_customization_job(
        jobName="distill-from-s3",
        customModelName="distilled-from-s3",
        roleArn=f"arn:aws:iam::{account_id}:role/BedrockDistillation",
        baseModelIdentifier=STUDENT,
        customizationType="DISTILLATION",
        trainingDataConfig={"s3Uri": f"s3://{bucket_name}/data/training-data.jsonl"},
        outputDataConfig={"s3Uri": f"s3://{bucket_name}/output/"},
        hyperParameters={"epochCount": "1", "batchSize": "64"},
        customizationConfig={
            "distillationConfig": {
                "teacherModelConfig": {"teacherModelIdentifier": TEACHER, "maxResponseLengthForInference": 64}
            }
        },
    )["jobArn"]
    job = run_job(
        jobs,
        jobs.job_id(arn),
        DefaultStages(load_teacher=fake_loader, embedder="hashing", store=LocalObjectStore(home / "s3")),
        lambda: False,
    )
    assert job.status == "Completed", job.failureMessage
    outputs = [
        o["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket_name, Prefix="output/")
        for o in page.get("Contents", [])
    ]
    assert any(k.endswith("training_artifacts/step_wise_training_metrics.csv") for k in outputs), outputs

    provisioned_arn = _provision(bedrock_client, arn, "distilled-from-s3-pt")
    request = {
        "modelId": provisioned_arn,
        "messages": [{"role": "user", "content": [{"text": "red car dog"}]}],
        "inferenceConfig": {"maxTokens": 4, "temperature": 0},
    }
    whole = bedrock_runtime.converse(**request)["output"]["message"]["content"][0]["text"]
    events = list(bedrock_runtime.converse_stream(**request)["stream"])
    streamed = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert streamed == whole and "messageStop" in events[-2] and "metadata" in events[-1]
