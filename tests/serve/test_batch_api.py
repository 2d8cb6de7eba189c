"""Batch inference through boto3 against the app on loopback: every call where botocore sends it,
Bedrock's refusals, and a job run by an in-process worker (FakeModel: the job logic, not a model)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError
from tests.batch.helpers import INPUT, OUTPUT, input_lines, job_body
from tests.serve.helpers import unsigned_call

from stillhouse.sources.objectstore import LocalObjectStore

OPERATIONS = [
    "CreateModelInvocationJob",
    "GetModelInvocationJob",
    "ListModelInvocationJobs",
    "StopModelInvocationJob",
]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_batch_operation_has_a_route_matching_botocore(operation: str, client: Any) -> None:
    model, response = unsigned_call(client, operation)
    method, uri = model.http["method"], model.http["requestUri"]
    assert response.status_code == 403, f"{operation}: {method} {uri} -> {response.status_code}"


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_batch_job_lifecycle_through_boto3(bedrock: Any, jobs: Any, home: Path, tmp_path: Path) -> None:
    from tests.jobs.helpers import FakeStages

    from stillhouse.jobs.worker import Runners, Worker

    LocalObjectStore(home / "s3").put_bytes(INPUT, "\n".join(input_lines(12, malformed_at=4)).encode())
    created = bedrock.create_model_invocation_job(**job_body(timeoutDurationInHours=48))
    arn = created["jobArn"]
    assert re.fullmatch(r"arn:aws:bedrock:us-east-1:\d{12}:model-invocation-job/[a-z0-9]{12}", arn)
    job = bedrock.get_model_invocation_job(jobIdentifier=arn)
    assert job["status"] == "Submitted" and job["timeoutDurationInHours"] == 48
    assert job["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] == INPUT

    worker = Worker(jobs, FakeStages(tmp_path), runners=Runners({"batch": "tests.batch.fake_runner:make"}))
    assert worker.run_once() == jobs.invocation_job_id(arn)
    job = bedrock.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[1])
    assert job["status"] == "PartiallyCompleted" and job["endTime"] >= job["submitTime"]
    assert (job["totalRecordCount"], job["successRecordCount"], job["errorRecordCount"]) == (12, 11, 1)
    out = LocalObjectStore(home / "s3")
    job_id = arn.rsplit("/", 1)[1]
    lines = out.get_bytes(f"{OUTPUT}{job_id}/records.jsonl.out").decode().splitlines()
    assert len(lines) == 12 and "error" in json.loads(lines[4])
    assert json.loads(out.get_bytes(f"{OUTPUT}{job_id}/manifest.json.out"))["successRecordCount"] == 11
    with pytest.raises(ClientError) as exc:
        bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert code(exc) == "ConflictException"


def test_listing_filters_pages_and_sorts(bedrock: Any, jobs: Any) -> None:
    arns = [bedrock.create_model_invocation_job(**job_body(f"batch-{i}"))["jobArn"] for i in range(3)]
    bedrock.stop_model_invocation_job(jobIdentifier=arns[1])  # no worker holds it: Stopped at once
    first = bedrock.list_model_invocation_jobs(maxResults=2)
    assert [s["jobArn"] for s in first["invocationJobSummaries"]] == arns[::-1][:2]
    rest = bedrock.list_model_invocation_jobs(maxResults=2, nextToken=first["nextToken"])
    assert [s["jobArn"] for s in rest["invocationJobSummaries"]] == [arns[0]] and "nextToken" not in rest
    ascending = bedrock.list_model_invocation_jobs(sortOrder="Ascending")["invocationJobSummaries"]
    assert [s["jobArn"] for s in ascending] == arns
    stopped = bedrock.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]
    assert [s["jobName"] for s in stopped] == ["batch-1"]
    named = bedrock.list_model_invocation_jobs(nameContains="batch-2")["invocationJobSummaries"]
    assert [s["jobArn"] for s in named] == [arns[2]]
    assert jobs.list_jobs().modelCustomizationJobSummaries == []  # each kind lists its own jobs


def test_the_same_client_token_is_the_same_job(bedrock: Any) -> None:
    first = bedrock.create_model_invocation_job(**job_body(clientRequestToken="tok-1"))
    again = bedrock.create_model_invocation_job(**job_body(clientRequestToken="tok-1"))
    assert again["jobArn"] == first["jobArn"]
    with pytest.raises(ClientError) as exc:
        bedrock.create_model_invocation_job(**job_body(clientRequestToken="tok-1", modelId="other"))
    assert code(exc) == "ConflictException"
    with pytest.raises(ClientError) as exc:
        bedrock.create_model_invocation_job(**job_body())
    assert code(exc) == "ConflictException"  # the name is taken


def test_a_batch_job_may_share_a_customization_jobs_name(bedrock: Any) -> None:
    from tests.serve.test_control import JOB

    bedrock.create_model_customization_job(**JOB)
    bedrock.create_model_invocation_job(**job_body(JOB["jobName"]))
    assert bedrock.get_model_invocation_job(jobIdentifier=JOB["jobName"])["status"] == "Submitted"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeoutDurationInHours": 169}, "timeoutDurationInHours"),
        ({"jobName": "bad name"}, "jobName"),
        ({"roleArn": "not-a-role"}, "roleArn"),
        ({"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "https://x/y"}}}, "s3Uri"),
        (
            {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT, "s3InputFormat": "CSV"}}},
            "s3InputFormat",
        ),
        ({"modelInvocationType": "Chat"}, "modelInvocationType"),
    ],
)
def test_each_bad_request_is_a_validation_exception(bedrock: Any, change: dict, field: str) -> None:
    with pytest.raises(ClientError) as exc:
        bedrock.create_model_invocation_job(**{**job_body(), **change})
    assert code(exc) == "ValidationException" and field in exc.value.response["Error"]["Message"]


def test_unknown_jobs_are_resource_not_found(bedrock: Any) -> None:
    for call in (bedrock.get_model_invocation_job, bedrock.stop_model_invocation_job):
        with pytest.raises(ClientError) as exc:
            call(jobIdentifier="abcdef123456")
        assert code(exc) == "ResourceNotFoundException"


def test_botocore_refuses_what_it_checks_itself_and_the_service_too(bedrock: Any, jobs: Any) -> None:
    from stillhouse.errors import InvalidInputError

    with pytest.raises(ParamValidationError):
        bedrock.create_model_invocation_job(**{k: v for k, v in job_body().items() if k != "roleArn"})
    with pytest.raises(ParamValidationError):  # botocore checks the minimum; a raw caller meets ours
        bedrock.create_model_invocation_job(**job_body(timeoutDurationInHours=23))
    with pytest.raises(InvalidInputError, match="timeoutDurationInHours"):
        jobs.create_invocation_job(job_body(timeoutDurationInHours=23))
