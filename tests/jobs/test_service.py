"""JobService: create/get/list/stop, idempotency, custom models and deployments (no workers)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stillhouse.errors import ConflictError, InvalidInputError, NotFoundError
from stillhouse.jobs import JobService, state

from .helpers import job_request


def test_create_then_get_by_arn_name_or_id(service: JobService) -> None:
    arn = service.create_job(job_request()).jobArn
    assert arn.startswith("arn:aws:bedrock:us-east-1:000000000000:model-customization-job/")
    job_id = arn.rsplit("/", 1)[1]
    for identifier in (arn, "job-1", job_id):
        job = service.get_job(identifier)
        assert job.jobArn == arn and job.status == "InProgress"
    assert job.statusDetails.validationDetails.status == "NotStarted"
    assert job.outputModelName == "job-1-model" and job.customizationType == "DISTILLATION"
    assert job.customizationConfig.distillationConfig.teacherModelConfig.teacherModelIdentifier == "teacher"
    with pytest.raises(NotFoundError):
        service.get_job("nope")


def test_client_request_token_makes_create_idempotent(service: JobService) -> None:
    first = service.create_job(job_request(clientRequestToken="tok-1"))
    assert service.create_job(job_request(clientRequestToken="tok-1")) == first
    assert len(service.list_jobs().modelCustomizationJobSummaries) == 1
    with pytest.raises(ConflictError, match="different request"):
        service.create_job(job_request(clientRequestToken="tok-1", hyperParameters={"epochCount": "2"}))


def test_names_must_be_free(service: JobService) -> None:
    service.create_job(job_request())
    with pytest.raises(ConflictError, match="job named"):
        service.create_job(job_request())
    with pytest.raises(ConflictError, match="custom model name"):
        service.create_job(job_request("job-2", customModelName="job-1-model"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customizationType": "DISTILLATION", "customizationConfig": None}, ""),
        ({"trainingDataConfig": {}}, "trainingDataConfig"),
        ({"hyperParameters": {"epochCount": "9"}}, "epochCount"),
        ({"hyperParameters": {"dropout": "0.1"}}, "dropout"),
        ({"hyperParameters": {"distillationMethod": "dpo"}}, "distillationMethod"),
        ({"hyperParameters": {"distillationMethod": "kd", "kdTopK": "50"}}, "kdTopK"),
        ({"hyperParameters": {"studentReasoningChars": "8"}}, "studentReasoningChars"),
        ({"surprise": 1}, "surprise"),
        ({"jobName": "bad name!"}, "jobName"),
        ({"outputDataConfig": {"s3Uri": "/tmp/out"}}, "outputDataConfig.s3Uri"),
        (
            {
                "trainingDataConfig": {
                    "invocationLogsConfig": {
                        "invocationLogSource": {"s3Uri": "s3://logs/"},
                        "requestMetadataFilters": {"andAll": []},
                    }
                }
            },
            "trainingDataConfig.invocationLogsConfig.requestMetadataFilters.andAll",
        ),
    ],
)
def test_bad_requests_name_the_field(service: JobService, change: dict, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        service.create_job(job_request(**change))
    assert (err.value.field or "").startswith(field)


def test_fine_tuning_takes_no_teacher(service: JobService) -> None:
    with pytest.raises(InvalidInputError, match="only valid for DISTILLATION"):
        service.create_job(job_request(customizationType="FINE_TUNING"))
    arn = service.create_job(job_request(customizationType="FINE_TUNING", customizationConfig=None)).jobArn
    assert service.get_job(arn).customizationType == "FINE_TUNING"


def test_list_filters_sorts_and_pages(service: JobService) -> None:
    for i in range(5):
        service.create_job(job_request(f"router-{i}" if i % 2 == 0 else f"other-{i}"))
    service.stop_job("other-3")
    names = [j.jobName for j in service.list_jobs().modelCustomizationJobSummaries]
    assert names == ["router-4", "other-3", "router-2", "other-1", "router-0"]  # newest first
    ascending = service.list_jobs({"sortOrder": "Ascending", "nameContains": "router"})
    assert [j.jobName for j in ascending.modelCustomizationJobSummaries] == [
        "router-0",
        "router-2",
        "router-4",
    ]
    stopped = service.list_jobs({"statusEquals": "Stopped"}).modelCustomizationJobSummaries
    assert [j.jobName for j in stopped] == ["other-3"]
    seen, token = [], None
    while True:
        page = service.list_jobs({"maxResults": 2, **({"nextToken": token} if token else {})})
        seen += [j.jobName for j in page.modelCustomizationJobSummaries]
        token = page.nextToken
        if token is None:
            break
    assert seen == names


def test_list_time_window_and_bad_token(service: JobService) -> None:
    service.create_job(job_request("a"))
    created = service.get_job("a").creationTime
    assert (
        len(
            service.list_jobs(
                {"creationTimeAfter": created - timedelta(seconds=1)}
            ).modelCustomizationJobSummaries
        )
        == 1
    )
    assert service.list_jobs({"creationTimeBefore": created}).modelCustomizationJobSummaries == []
    with pytest.raises(InvalidInputError, match="pagination token"):
        service.list_jobs({"nextToken": "garbage!"})
    assert service.list_jobs({"nameContains": "%"}).modelCustomizationJobSummaries == []


def test_stop_without_a_worker_stops_at_once_and_twice_is_a_conflict(service: JobService) -> None:
    arn = service.create_job(job_request()).jobArn
    service.stop_job(arn)
    job = service.get_job(arn)
    assert job.status == "Stopped" and job.endTime is not None
    with pytest.raises(ConflictError):
        service.stop_job(arn)


def test_stop_with_a_live_lease_waits_for_the_worker(service: JobService) -> None:
    arn = service.create_job(job_request()).jobArn
    assert service.store.claim_job("w1", 60) is not None
    service.stop_job(arn)
    assert service.get_job(arn).status == "Stopping"


def finished_model(service: JobService, tmp_path: Path, name: str = "job-1") -> str:
    job_id = service.job_id(service.create_job(job_request(name)).jobArn)
    service.transition(job_id, lambda j: _all_stages_done(j))
    model_dir = service.job_dir(job_id) / "model"
    model_dir.mkdir(parents=True)
    return service.register_output_model(job_id, model_dir, training_loss=0.25).modelArn


def _all_stages_done(job):
    for stage in state.STAGES:
        job = state.complete_stage(state.start_stage(job, stage, state.now()), stage, state.now())
    return job


def test_registering_a_model_completes_the_job(service: JobService, tmp_path: Path) -> None:
    model_arn = finished_model(service, tmp_path)
    assert ":custom-model/job-1-model-" in model_arn
    job = service.get_job("job-1")
    assert job.status == "Completed" and job.outputModelArn == model_arn
    assert job.trainingMetrics.trainingLoss == 0.25
    model = service.get_custom_model("job-1-model")
    assert model.modelArn == model_arn and model.jobArn == job.jobArn and model.modelStatus == "Active"
    assert service.custom_model_dir(model_arn).name == "model"
    summaries = service.list_custom_models({"nameContains": "job-1"}).modelSummaries
    assert [m.modelName for m in summaries] == ["job-1-model"]
    assert summaries[0].baseModelName == "smollm2-135m"


def test_deployments_lifecycle(service: JobService, tmp_path: Path) -> None:
    model_arn = finished_model(service, tmp_path)
    request = {"modelDeploymentName": "router-prod", "modelArn": model_arn, "clientRequestToken": "d1"}
    arn = service.create_deployment(request).customModelDeploymentArn
    assert service.create_deployment(request).customModelDeploymentArn == arn
    assert ":custom-model-deployment/" in arn
    assert service.get_deployment("router-prod").status == "Creating"
    with pytest.raises(ConflictError, match="already exists"):
        service.create_deployment({"modelDeploymentName": "router-prod", "modelArn": model_arn})
    assert service.mark_deployment(arn, "Active").status == "Active"
    with pytest.raises(ConflictError, match="cannot go from Active to Creating"):
        service.mark_deployment(arn, "Creating")
    listed = service.list_deployments({"statusEquals": "Active", "modelArnEquals": model_arn})
    assert [d.customModelDeploymentName for d in listed.modelDeploymentSummaries] == ["router-prod"]
    with pytest.raises(ConflictError, match="has deployments"):
        service.delete_custom_model(model_arn)
    failed = service.mark_deployment(arn, "Failed", "out of memory")
    assert failed.failureMessage == "out of memory"
    service.delete_deployment(arn)
    service.delete_custom_model(model_arn)
    assert not service.job_dir(service.job_id("job-1")).joinpath("model").exists()
    with pytest.raises(NotFoundError):
        service.get_custom_model(model_arn)


def test_deploying_an_unknown_model_is_not_found(service: JobService) -> None:
    with pytest.raises(NotFoundError):
        service.create_deployment(
            {"modelDeploymentName": "x", "modelArn": "arn:aws:bedrock:r:a:custom-model/n"}
        )


_STORE_REFUSES = ["s3://out/../x/", "s3://out//x/", "s3://out/./x", "s3://out/%2e%2e/x", "s3://out/a b"]


@pytest.mark.parametrize("uri", _STORE_REFUSES)
@pytest.mark.parametrize(
    ("where", "field"),
    [
        (lambda uri: {"outputDataConfig": {"s3Uri": uri}}, "outputDataConfig.s3Uri"),
        (lambda uri: {"trainingDataConfig": {"s3Uri": uri}}, "trainingDataConfig.s3Uri"),
        (
            lambda uri: {"validationDataConfig": {"validators": [{"s3Uri": uri}]}},
            "validationDataConfig.validators.0.s3Uri",
        ),
        (
            lambda uri: {
                "trainingDataConfig": {"invocationLogsConfig": {"invocationLogSource": {"s3Uri": uri}}}
            },
            "trainingDataConfig.invocationLogsConfig.invocationLogSource.s3Uri",
        ),
    ],
    ids=["output", "training", "validation", "invocation-logs"],
)
def test_uris_the_store_would_refuse_are_refused_at_create(
    service: JobService, uri: str, where, field: str
) -> None:
    """Refused synchronously (ValidationException), not accepted and then failed in the background."""
    with pytest.raises(InvalidInputError) as err:
        service.create_job(job_request(**where(uri)))
    assert err.value.code == "ValidationException"
    assert err.value.field == field
    assert service.list_jobs().modelCustomizationJobSummaries == []


def test_every_resource_is_found_by_arn_name_or_id_and_an_arn_of_another_partition(
    service: JobService, tmp_path: Path
) -> None:
    """One lookup (Store.find) serves them all: the ARN as stored, the name, the id, and the id inside
    an ARN of another partition, region or account; another resource type's ARN finds nothing."""
    model_arn = finished_model(service, tmp_path)
    dep_arn = service.create_deployment({"modelDeploymentName": "dep", "modelArn": model_arn})
    pm_arn = service.create_provisioned({"provisionedModelName": "pm", "modelId": model_arn, "modelUnits": 1})
    job_arn = service.get_job("job-1").jobArn
    cases = [
        (service.get_job, job_arn, "job-1", lambda doc: doc.jobArn),
        (
            service.get_deployment,
            dep_arn.customModelDeploymentArn,
            "dep",
            lambda doc: doc.customModelDeploymentArn,
        ),
        (service.get_provisioned, pm_arn, "pm", lambda doc: doc.provisionedModelArn),
    ]
    for get, arn, name, arn_of in cases:
        kind_and_id = arn.split(":", 5)[5]
        elsewhere = f"arn:aws-cn:bedrock:cn-north-1:111111111111:{kind_and_id}"
        for identifier in (arn, name, kind_and_id.rsplit("/", 1)[1], elsewhere):
            assert arn_of(get(identifier)) == arn, identifier
        with pytest.raises(NotFoundError):
            get(f"arn:aws:bedrock:us-east-1:000000000000:custom-model/{kind_and_id.rsplit('/', 1)[1]}")
    assert service.get_custom_model(model_arn).modelArn == model_arn
    assert service.get_custom_model("job-1-model").modelArn == model_arn
    with pytest.raises(NotFoundError):
        service.get_custom_model("no-such-model")
