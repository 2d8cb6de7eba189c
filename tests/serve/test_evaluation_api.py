"""Evaluation jobs through boto3 against the app on loopback: routes where botocore sends them, the
lifecycle with an in-process worker (FakeModel judge and student: the job logic), and both job kinds
listed again by a server restarted on the same database."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.batch.helpers import job_body
from tests.jobs.evaluation_helpers import DATASET, dataset_lines, eval_body
from tests.serve.helpers import unsigned_call

from stillhouse.sources.objectstore import LocalObjectStore

OPERATIONS = ["CreateEvaluationJob", "GetEvaluationJob", "ListEvaluationJobs", "StopEvaluationJob"]
RUNNERS = {"evaluation": "tests.jobs.evaluation_helpers:make_runner"}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_evaluation_operation_has_a_route_matching_botocore(operation: str, client: Any) -> None:
    model, response = unsigned_call(client, operation)
    method, uri = model.http["method"], model.http["requestUri"]
    assert response.status_code == 403, f"{operation}: {method} {uri} -> {response.status_code}"


def test_evaluation_job_lifecycle_through_boto3(bedrock: Any, jobs: Any, home: Path, tmp_path: Path) -> None:
    from tests.jobs.helpers import FakeStages

    from stillhouse.jobs.worker import Runners, Worker

    store = LocalObjectStore(home / "s3")
    store.put_bytes(DATASET, "\n".join(dataset_lines(3)).encode())
    arn = bedrock.create_evaluation_job(**eval_body())["jobArn"]
    assert re.fullmatch(r"arn:aws:bedrock:us-east-1:\d{12}:evaluation-job/[a-z0-9]{12}", arn)
    job = bedrock.get_evaluation_job(jobIdentifier=arn)
    assert job["status"] == "InProgress" and job["jobType"] == "Automated"
    custom = job["evaluationConfig"]["automated"]["customMetricConfig"]["customMetrics"][0]
    assert custom["customMetricDefinition"]["ratingScale"][0]["value"] == {"floatValue": 5.0}

    worker = Worker(jobs, FakeStages(tmp_path), runners=Runners(RUNNERS))
    assert worker.run_once() == arn.rsplit("/", 1)[1]
    assert bedrock.get_evaluation_job(jobIdentifier=arn)["status"] == "Completed"
    job_id = arn.rsplit("/", 1)[1]
    prefix = f"s3://eval-out/results/router-eval/{job_id}/"
    keys = sorted(store.list(prefix))
    assert f"{prefix}models/student-model/taskTypes/Custom/datasets/heldout/{job_id}_output.jsonl" in keys
    assert {f"{prefix}{name}" for name in ("summary.json", "report.html", "results.json")} <= set(keys)
    summaries = bedrock.list_evaluation_jobs(statusEquals="Completed")["jobSummaries"]
    assert [s["jobArn"] for s in summaries] == [arn] and summaries[0]["evaluationTaskTypes"] == ["Custom"]
    with pytest.raises(ClientError) as exc:
        bedrock.stop_evaluation_job(jobIdentifier=arn)
    assert exc.value.response["Error"]["Code"] == "ConflictException"


def test_refusals_are_bedrocks_codes(bedrock: Any) -> None:
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**eval_body(applicationType="RagEvaluation"))
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        bedrock.get_evaluation_job(
            jobIdentifier="arn:aws:bedrock:us-east-1:000000000000:evaluation-job/abcdef123456"
        )
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    bedrock.create_evaluation_job(**eval_body())
    with pytest.raises(ClientError) as exc:
        bedrock.create_evaluation_job(**eval_body())
    assert exc.value.response["Error"]["Code"] == "ConflictException"


def test_a_restarted_server_lists_and_runs_both_kinds(
    bedrock: Any, jobs: Any, home: Path, tmp_path: Path
) -> None:
    from tests.jobs.helpers import FakeStages

    from stillhouse.jobs.service import JobService
    from stillhouse.jobs.worker import Runners, Worker

    LocalObjectStore(home / "s3").put_bytes(DATASET, "\n".join(dataset_lines(2)).encode())
    eval_arn = bedrock.create_evaluation_job(**eval_body())["jobArn"]
    batch_arn = bedrock.create_model_invocation_job(**job_body())["jobArn"]
    bedrock.stop_model_invocation_job(jobIdentifier=batch_arn)
    restarted = JobService(jobs.db_path)  # a new server process on the same database
    assert [j.jobArn for j in restarted.list_evaluation_jobs().jobSummaries] == [eval_arn]
    assert restarted.get_invocation_job(batch_arn).status == "Stopped"
    Worker(restarted, FakeStages(tmp_path), runners=Runners(RUNNERS)).run_once()
    assert restarted.get_evaluation_job(eval_arn).status == "Completed"
    assert (
        json.loads(
            json.dumps(bedrock.list_model_invocation_jobs()["invocationJobSummaries"][0], default=str)
        )["status"]
        == "Stopped"
    )
