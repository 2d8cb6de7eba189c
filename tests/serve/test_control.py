"""The Bedrock control plane through boto3's unchanged ``bedrock`` client, against uvicorn on loopback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import boto_client, make_custom_model, unsigned_call

JOB = {
    "jobName": "router-distill-1",
    "customModelName": "router-student-1",
    "roleArn": "arn:aws:iam::000000000000:role/distill",
    "baseModelIdentifier": "smollm2-135m",
    "customizationType": "DISTILLATION",
    "trainingDataConfig": {"s3Uri": "s3://data/prompts.jsonl"},
    "outputDataConfig": {"s3Uri": "s3://out/router/"},
    "customizationConfig": {
        "distillationConfig": {
            "teacherModelConfig": {
                "teacherModelIdentifier": "qwen2.5-coder-1.5b",
                "maxResponseLengthForInference": 64,
            }
        }
    },
}
OPERATIONS = [
    "CreateModelCustomizationJob",
    "GetModelCustomizationJob",
    "StopModelCustomizationJob",
    "ListModelCustomizationJobs",
    "GetCustomModel",
    "DeleteCustomModel",
    "ListCustomModels",
    "CreateCustomModelDeployment",
    "GetCustomModelDeployment",
    "ListCustomModelDeployments",
    "DeleteCustomModelDeployment",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_has_a_route_matching_botocore(operation: str, client: Any) -> None:
    """botocore's own service model says where each call goes; the app must serve exactly that
    (an unsigned call reaching the route is refused by auth, 403 MissingAuthenticationTokenException
    as AWS answers an unsigned call, not by routing, 404)."""
    model, response = unsigned_call(client, operation, "arn%3Aaws%3Abedrock%3Aus-east-1%3A0%3Ax%2Fsample")
    method, uri = model.http["method"], model.http["requestUri"]
    assert response.status_code == 403, f"{operation}: {method} {uri} -> {response.status_code}"
    assert response.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
    for name, member in model.input_shape.members.items():
        loc = member.serialization.get("location")
        assert loc in (None, "uri", "querystring"), f"{operation}.{name} is sent in {loc}"


def test_job_lifecycle_through_boto3(bedrock: Any) -> None:
    arn = bedrock.create_model_customization_job(**JOB)["jobArn"]
    assert arn.startswith("arn:aws:bedrock:") and ":model-customization-job/" in arn
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["jobName"] == JOB["jobName"] and job["status"] == "InProgress"
    assert (
        job["customizationConfig"]["distillationConfig"]["teacherModelConfig"][
            "maxResponseLengthForInference"
        ]
        == 64
    )
    assert bedrock.get_model_customization_job(jobIdentifier=JOB["jobName"])["jobArn"] == arn

    listed = bedrock.list_model_customization_jobs(
        statusEquals="InProgress", nameContains="distill", maxResults=5
    )
    assert [s["jobArn"] for s in listed["modelCustomizationJobSummaries"]] == [arn]
    assert (
        bedrock.list_model_customization_jobs(statusEquals="Completed")["modelCustomizationJobSummaries"]
        == []
    )

    bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert bedrock.get_model_customization_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    # A second stop in the same second carries the same signature: the job service answers it (the
    # job is already stopped: a conflict), not a replay refusal.
    with pytest.raises(ClientError) as second:
        bedrock.stop_model_customization_job(jobIdentifier=arn)
    assert second.value.response["Error"]["Code"] == "ConflictException"


def test_idempotent_create_and_conflicts(bedrock: Any) -> None:
    first = bedrock.create_model_customization_job(**JOB, clientRequestToken="tok-1")["jobArn"]
    # Same second, same signature (botocore signs with 1-second resolution): served, as Bedrock does.
    again = bedrock.create_model_customization_job(**JOB, clientRequestToken="tok-1")["jobArn"]
    assert first == again
    with pytest.raises(ClientError) as err:
        bedrock.create_model_customization_job(**JOB)
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


def test_wrong_secret_is_invalid_signature_and_creates_nothing(server: str, bedrock: Any) -> None:
    intruder = boto_client("bedrock", server, secret="wrong-secret")
    with pytest.raises(ClientError) as err:
        intruder.create_model_customization_job(**JOB)
    assert err.value.response["Error"]["Code"] == "InvalidSignatureException"  # AWS's code for it
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []


def test_bad_request_is_a_validation_error_naming_the_field(bedrock: Any) -> None:
    bad = {**JOB, "hyperParameters": {"epochCount": "99"}}
    with pytest.raises(ClientError) as err:
        bedrock.create_model_customization_job(**bad)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "epochCount" in err.value.response["Error"]["Message"]


def test_unknown_job_is_resource_not_found(bedrock: Any) -> None:
    with pytest.raises(ClientError) as err:
        bedrock.get_model_customization_job(
            jobIdentifier="arn:aws:bedrock:us-east-1:000000000000:model-customization-job/nope"
        )
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def _wait_status(bedrock: Any, arn: str, want: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep = bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)
        if dep["status"] == want or time.monotonic() > deadline:
            return dep
        time.sleep(0.05)


def test_custom_models_and_deployments_through_boto3(
    bedrock: Any, runtime: Any, jobs: Any, home: Path
) -> None:
    model_arn = make_custom_model(jobs, home)
    assert bedrock.get_custom_model(modelIdentifier=model_arn)["modelName"] == "router-v1"
    assert [m["modelArn"] for m in bedrock.list_custom_models(nameContains="router")["modelSummaries"]] == [
        model_arn
    ]

    dep_arn = bedrock.create_custom_model_deployment(
        modelDeploymentName="router-dep",
        modelArn=model_arn,
        description="test",
        tags=[{"key": "UseCase", "value": "VideoSearch"}],
        clientRequestToken="dep-1",
    )["customModelDeploymentArn"]
    assert _wait_status(bedrock, dep_arn, "Active")["status"] == "Active"
    listed = bedrock.list_custom_model_deployments(statusEquals="Active", modelArnEquals=model_arn)
    assert [d["customModelDeploymentArn"] for d in listed["modelDeploymentSummaries"]] == [dep_arn]

    out = runtime.converse(modelId=model_arn, messages=[{"role": "user", "content": [{"text": "hi there"}]}])
    assert out["output"]["message"]["content"][0]["text"] == "echo: hi there"

    with pytest.raises(ClientError) as err:  # a deployed model cannot be deleted
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert err.value.response["Error"]["Code"] == "ConflictException"
    bedrock.delete_custom_model_deployment(customModelDeploymentIdentifier=dep_arn)
    with pytest.raises(ClientError) as err:
        runtime.converse(modelId=model_arn, messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert bedrock.list_custom_models()["modelSummaries"] == []


def test_deployment_whose_model_cannot_load_fails(bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn = make_custom_model(jobs, home, name="broken-model")
    dep_arn = bedrock.create_custom_model_deployment(modelDeploymentName="bad-dep", modelArn=model_arn)[
        "customModelDeploymentArn"
    ]
    dep = _wait_status(bedrock, dep_arn, "Failed")
    assert dep["status"] == "Failed" and "cannot load" in dep["failureMessage"]
