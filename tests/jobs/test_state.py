"""The job state machine allows legal moves only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stillhouse.errors import ConflictError
from stillhouse.jobs import state
from stillhouse.jobs.schema import ModelCustomizationJob

T0 = datetime(2026, 11, 23, tzinfo=UTC)


def new_job() -> ModelCustomizationJob:
    return ModelCustomizationJob(
        jobArn="arn:aws:bedrock:us-east-1:0:model-customization-job/abc",
        jobName="j",
        outputModelName="m",
        roleArn="r",
        creationTime=T0,
        baseModelArn="b",
        trainingDataConfig={"s3Uri": "s3://data/b"},
        outputDataConfig={"s3Uri": "s3://out/"},
        customizationType="DISTILLATION",
    )


def run_all_stages(job: ModelCustomizationJob) -> ModelCustomizationJob:
    for stage in state.STAGES:
        job = state.complete_stage(state.start_stage(job, stage, T0), stage, T0)
    return job


def test_happy_path_completes_with_the_model_arn_and_an_end_time() -> None:
    job = state.complete(run_all_stages(new_job()), "arn:model", T0)
    assert job.status == "Completed" and job.outputModelArn == "arn:model" and job.endTime == T0
    assert job.statusDetails.trainingDetails.creationTime == T0


def test_cannot_complete_before_every_stage_is_done() -> None:
    job = state.start_stage(new_job(), "validation", T0)
    with pytest.raises(ConflictError, match="not Completed"):
        state.complete(job, "arn:model", T0)


def test_stop_marks_the_running_stage_then_stops_it() -> None:
    job = state.start_stage(new_job(), "validation", T0)
    job = state.request_stop(job, T0)
    assert (job.status, job.statusDetails.validationDetails.status) == ("Stopping", "Stopping")
    assert state.request_stop(job, T0) == job  # stopping twice is harmless
    job = state.finish_stopped(job, T0)
    assert job.status == "Stopped" and job.endTime == T0
    assert job.statusDetails.validationDetails.status == "Stopped"
    assert job.statusDetails.trainingDetails.status == "NotStarted"


def test_failure_marks_the_running_stage_failed() -> None:
    job = state.fail(state.start_stage(new_job(), "dataProcessing", T0), "teacher unreachable", T0)
    assert job.status == "Failed" and job.failureMessage == "teacher unreachable"
    assert job.statusDetails.dataProcessingDetails.status == "Failed"


@pytest.mark.parametrize("final", ["Completed", "Failed", "Stopped"])
def test_finished_jobs_do_not_move(final: str) -> None:
    job = new_job().model_copy(update={"status": final})
    for move in (
        lambda j: state.request_stop(j, T0),
        lambda j: state.fail(j, "x", T0),
        lambda j: state.finish_stopped(j, T0),
    ):
        with pytest.raises(ConflictError):
            move(job)


def test_a_stage_cannot_complete_twice_or_skip_in_progress() -> None:
    with pytest.raises(ConflictError, match="NotStarted to Completed"):
        state.complete_stage(new_job(), "training", T0)
    done = run_all_stages(new_job())
    with pytest.raises(ConflictError):
        state.complete_stage(done, "training", T0)


def test_transition_tables_are_what_the_docs_say() -> None:
    assert state.can_move_job("InProgress", "Stopping") and not state.can_move_job("Stopped", "InProgress")
    assert state.can_move_stage("Stopping", "Completed") and not state.can_move_stage(
        "NotStarted", "Completed"
    )
