"""run_job with fake stages: completion, failure, stop, and resuming after the last finished stage."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stillhouse.jobs import JobService
from stillhouse.jobs.pipeline import Abandoned, run_job

from .helpers import FakeStages, job_request


def new_job(service: JobService, name: str = "job-1") -> str:
    return service.job_id(service.create_job(job_request(name)).jobArn)


def never() -> bool:
    return False


def test_a_job_runs_every_stage_and_registers_its_model(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    stages = FakeStages(tmp_path / "model")
    job = run_job(service, job_id, stages, never)
    assert stages.calls == ["validate", "process_data", "train", "publish"]
    assert job.status == "Completed" and job.endTime is not None
    details = job.statusDetails
    assert {
        details.validationDetails.status,
        details.dataProcessingDetails.status,
        details.trainingDetails.status,
    } == {"Completed"}
    assert service.custom_model_dir(job.outputModelArn) == tmp_path / "model"
    assert service.progress(job_id)["labelled_file"] == "labelled.jsonl"


def test_a_failing_stage_fails_the_job_with_its_message(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    job = run_job(service, job_id, FakeStages(tmp_path, fail_in="validate"), never)
    assert job.status == "Failed"
    assert job.failureMessage == "dataset: only 3 valid records; at least 100 needed"
    assert job.statusDetails.validationDetails.status == "Failed"
    assert job.statusDetails.dataProcessingDetails.status == "NotStarted"


def test_an_unexpected_error_fails_the_job_and_keeps_the_traceback(
    service: JobService, tmp_path: Path
) -> None:
    job_id = new_job(service)

    class Broken(FakeStages):
        def train(self, ctx):
            raise RuntimeError("tensor shapes differ")

    job = run_job(service, job_id, Broken(tmp_path), never)
    assert job.status == "Failed" and "RuntimeError: tensor shapes differ" in job.failureMessage
    assert "Traceback" in (service.job_dir(job_id) / "error.txt").read_text()


def test_stop_requested_mid_stage_ends_stopped(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    service.store.claim_job("me", 60)  # a worker holds it, so stop_job only asks
    stop = threading.Event()
    stages = FakeStages(tmp_path, hold_in="process_data")
    timer = threading.Timer(0.2, lambda: (service.stop_job(job_id), stop.set()))
    timer.start()
    job = run_job(service, job_id, stages, stop.is_set)
    timer.join()
    assert job.status == "Stopped"
    assert job.statusDetails.validationDetails.status == "Completed"
    assert job.statusDetails.dataProcessingDetails.status == "Stopped"
    assert job.statusDetails.trainingDetails.status == "NotStarted"
    assert "train" not in stages.calls


def test_shutdown_abandons_and_a_rerun_skips_finished_stages(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    shutdown = threading.Event()
    threading.Timer(0.2, shutdown.set).start()
    first = FakeStages(tmp_path, hold_in="train")
    with pytest.raises(Abandoned):
        run_job(service, job_id, first, shutdown.is_set)
    job = service.get_job(job_id)
    assert job.status == "InProgress" and job.statusDetails.trainingDetails.status == "InProgress"
    second = FakeStages(tmp_path / "model")
    assert run_job(service, job_id, second, never).status == "Completed"
    assert first.calls == ["validate", "process_data", "train"]
    assert second.calls == ["train", "publish"]  # validation and data processing are not redone


def test_a_job_found_stopping_is_finished_as_stopped(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    service.store.claim_job("dead-worker", 60)
    service.stop_job(job_id)
    stages = FakeStages(tmp_path)
    assert run_job(service, job_id, stages, never).status == "Stopped"
    assert stages.calls == []


def test_a_job_stopped_before_it_was_claimed_is_not_run(service: JobService, tmp_path: Path) -> None:
    job_id = new_job(service)
    service.stop_job(job_id)
    stages = FakeStages(tmp_path)
    assert run_job(service, job_id, stages, never).status == "Stopped"
    assert stages.calls == []
