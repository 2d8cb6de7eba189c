"""AWS's invocation-log distillation notebook's Bedrock calls, arguments as published, against the
server: put_model_invocation_logging_configuration, converse on the teacher's inference profile,
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
from tests.jobs.helpers import build_tiny_student, router_prompts
from tests.serve.helpers import fake_loader

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

    custom_model_id = bedrock.get_model_customization_job(jobIdentifier=arn)["outputModelArn"]
    provisioned_model_id = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="distilled-from-logs-pt", modelId=custom_model_id
    )["provisionedModelArn"]
    pm = _wait(
        lambda: bedrock.get_provisioned_model_throughput(provisionedModelId=provisioned_model_id),
        "status",
        {"InService", "Failed"},
    )
    assert pm["status"] == "InService", pm.get("failureMessage")
    out = runtime.converse(
        modelId=provisioned_model_id,
        messages=[{"role": "user", "content": [{"text": "red car dog"}]}],
        inferenceConfig={"maxTokens": 4, "temperature": 0},
    )
    assert out["stopReason"] in ("end_turn", "max_tokens") and out["usage"]["outputTokens"] >= 1
    bedrock.delete_provisioned_model_throughput(provisionedModelId=provisioned_model_id)
