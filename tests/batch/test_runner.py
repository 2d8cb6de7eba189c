"""A batch job's work on a worker, in-process, over a FakeModel (the job logic, not a real model)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from stillhouse.batch.runner import BatchRunner
from stillhouse.errors import ConflictError, ModelError, NotFoundError
from stillhouse.jobs import JobService, state
from stillhouse.jobs.batch import read_manifest
from stillhouse.jobs.pipeline import Abandoned
from stillhouse.jobs.worker import Runners, Worker
from stillhouse.models.fake import FakeModel
from stillhouse.sources.objectstore import open_store

from .helpers import INPUT, OUTPUT, answer, input_lines, job_body


def put_input(lines: list[str], uri: str = INPUT) -> None:
    open_store().put_bytes(uri, "\n".join(lines).encode())


def out_lines(job_id: str, name: str = "records.jsonl") -> list[dict[str, Any]]:
    raw = open_store().get_bytes(f"{OUTPUT}{job_id}/{name}.out").decode()
    return [json.loads(line) for line in raw.splitlines()]


def new_job(service: JobService, **overrides: Any) -> str:
    return service.invocation_job_id(service.create_invocation_job(job_body(**overrides)).jobArn)


def test_120_records_one_malformed_end_partially_completed_in_input_order(service: JobService) -> None:
    put_input(input_lines(120, malformed_at=57))
    job_id = new_job(service)
    model = FakeModel(answer)
    job = BatchRunner(load=lambda spec: model).run(service, job_id, lambda: False)
    assert job.status == "PartiallyCompleted" and job.endTime is not None
    assert (job.totalRecordCount, job.processedRecordCount) == (120, 120)
    assert (job.successRecordCount, job.errorRecordCount) == (119, 1)
    lines = out_lines(job_id)
    assert len(lines) == 120
    assert [line["recordId"] for i, line in enumerate(lines) if i != 57] == [
        f"rec-{i:04d}" for i in range(120) if i != 57
    ]
    # The cut-off line is not JSON: its id comes from its position, its text is kept as given.
    assert lines[57]["recordId"] == "00000000058" and lines[57]["modelInput"].startswith('{"recordId"')
    assert lines[57]["error"]["errorCode"] == 400 and "modelOutput" not in lines[57]
    assert lines[3]["modelOutput"]["output"]["message"]["content"] == [{"text": "answer to question 3"}]
    assert len(model.calls) == 119
    manifest = read_manifest(open_store(), OUTPUT, job_id)
    assert manifest["totalRecordCount"] == 120 and manifest["errorRecordCount"] == 1
    assert manifest["inputTokenCount"] == 119 * 2 and manifest["outputTokenCount"] > 0
    # Where the calls ran, for the job's page: here, one at a time.
    assert service.progress(job_id)["ran_on"] == {"executor": "local", "workers": {"batch": 1}}


def test_a_job_let_go_mid_run_resumes_without_asking_twice(service: JobService) -> None:
    put_input(input_lines(50))
    job_id = new_job(service)
    model = FakeModel(answer)
    runner = BatchRunner(load=lambda spec: model)
    with pytest.raises(Abandoned):  # the worker shuts down after 20 answers
        runner.run(service, job_id, lambda: len(model.calls) >= 20)
    assert service.get_invocation_job(job_id).status == "InProgress"
    assert runner.run(service, job_id, lambda: False).status == "Completed"
    prompts = [messages[-1].content for messages, _ in model.calls]
    assert len(prompts) == 50 and len(set(prompts)) == 50
    assert len(out_lines(job_id)) == 50


def test_a_requested_stop_writes_the_answered_records_and_ends_stopped(service: JobService) -> None:
    put_input(input_lines(30))
    job_id = new_job(service)
    service.store.claim_job("this-test", 60)  # a worker holds it, so the stop is only requested
    model = FakeModel(answer)

    def stop_after_ten() -> bool:
        if len(model.calls) == 10 and service.get_invocation_job(job_id).status != "Stopping":
            service.stop_invocation_job(job_id)
        return service.get_invocation_job(job_id).status == "Stopping"

    job = BatchRunner(load=lambda spec: model).run(service, job_id, stop_after_ten)
    assert job.status == "Stopped" and job.processedRecordCount == 10
    assert [line["recordId"] for line in out_lines(job_id)] == [f"rec-{i:04d}" for i in range(10)]
    with pytest.raises(ConflictError):
        service.stop_invocation_job(job_id)


def test_a_stop_before_any_worker_claims_it_is_immediate(service: JobService) -> None:
    job_id = new_job(service)
    service.stop_invocation_job(job_id)
    assert service.get_invocation_job(job_id).status == "Stopped"
    assert (
        BatchRunner(load=lambda spec: FakeModel(answer)).run(service, job_id, lambda: False).status
        == "Stopped"
    )


def test_a_job_past_its_expiration_time_ends_expired(service: JobService) -> None:
    put_input(input_lines(5))
    job_id = new_job(service)
    past = state.now() - timedelta(seconds=1)
    service.update_invocation_job(job_id, lambda j: j.model_copy(update={"jobExpirationTime": past}))
    job = BatchRunner(load=lambda spec: FakeModel(answer)).run(service, job_id, lambda: False)
    assert job.status == "Expired" and job.processedRecordCount == 0


def test_a_model_error_fails_only_its_record(service: JobService) -> None:
    put_input(input_lines(4))
    job_id = new_job(service)
    model = FakeModel(lambda m, p: ModelError("boom") if "2" in m[-1].content else "ok")
    job = BatchRunner(load=lambda spec: model).run(service, job_id, lambda: False)
    assert job.status == "PartiallyCompleted"
    assert out_lines(job_id)[2]["error"] == {"errorCode": 424, "errorMessage": "boom"}


def test_every_record_failing_fails_the_job(service: JobService) -> None:
    put_input(['{"recordId": 1}', "nonsense"])
    job = BatchRunner(load=lambda spec: FakeModel(answer)).run(service, new_job(service), lambda: False)
    assert job.status == "Failed" and "every record failed" in (job.message or "")


def test_a_missing_input_fails_the_job_in_validation(service: JobService) -> None:
    job = BatchRunner(load=lambda spec: FakeModel(answer)).run(service, new_job(service), lambda: False)
    assert job.status == "Failed" and "no input file" in (job.message or "")


def test_an_input_prefix_runs_each_file_into_its_own_out_file(service: JobService) -> None:
    put_input(input_lines(2), "s3://batch-in/prompts/a.jsonl")
    put_input(input_lines(3), "s3://batch-in/prompts/b.jsonl")
    body = job_body()
    body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"] = "s3://batch-in/prompts/"
    job_id = service.invocation_job_id(service.create_invocation_job(body).jobArn)
    job = BatchRunner(load=lambda spec: FakeModel(answer)).run(service, job_id, lambda: False)
    assert job.status == "Completed" and job.totalRecordCount == 5
    assert (len(out_lines(job_id, "a.jsonl")), len(out_lines(job_id, "b.jsonl"))) == (2, 3)


def test_model_ids_resolve_through_the_jobs_table_and_the_registry(service: JobService, tmp_path) -> None:
    from tests.serve.helpers import make_custom_model

    arn = make_custom_model(service, tmp_path, name="router-v1")
    assert service.model_spec(arn) == str(tmp_path / "models" / "router-v1")
    assert service.model_spec("router-v1") == str(tmp_path / "models" / "router-v1")
    assert service.model_spec("arn:aws:bedrock:us-east-1::foundation-model/smollm2-135m") == "smollm2-135m"
    assert service.model_spec("smollm2-135m") == "smollm2-135m"
    with pytest.raises(NotFoundError):
        service.model_spec("arn:aws:bedrock:us-east-1:000000000000:custom-model/gone-123456789012")


def test_a_worker_claims_a_batch_job_like_any_other(service: JobService, tmp_path) -> None:
    from tests.jobs.helpers import FakeStages

    put_input(input_lines(3))
    job_id = new_job(service)
    worker = Worker(service, FakeStages(tmp_path), runners=Runners({"batch": "tests.batch.fake_runner:make"}))
    assert worker.run_once() == job_id
    assert service.get_invocation_job(job_id).status == "Completed"
    assert not service.store.lease_held(job_id)


def test_a_model_that_cannot_load_fails_the_job_once(service: JobService) -> None:
    put_input(input_lines(3))
    job_id = new_job(service, modelId="no-such-local-model")
    loads: list[str] = []

    def load(spec: str):
        loads.append(spec)
        raise NotFoundError(f"unknown model {spec!r}")

    job = BatchRunner(load=load).run(service, job_id, lambda: False)
    assert (
        job.status == "Failed"
        and "could not be loaded" in (job.message or "")
        and loads == ["no-such-local-model"]
    )


def test_a_job_that_keeps_killing_its_worker_is_failed_unless_stopping(service: JobService, tmp_path) -> None:
    import time

    from tests.jobs.helpers import FakeStages

    from stillhouse.jobs.worker import MAX_ATTEMPTS

    put_input(input_lines(2))
    crashing, stopping = new_job(service, jobName="crashes"), new_job(service, jobName="stops")
    with service.store.transaction() as db:  # each job's workers died MAX_ATTEMPTS times already
        db.execute("UPDATE jobs SET attempts = ?", (MAX_ATTEMPTS,))
        db.execute(
            "UPDATE jobs SET lease_owner = 'dead', lease_expires = ? WHERE id = ?",
            (time.time() + 0.2, stopping),
        )
    service.stop_invocation_job(stopping)  # its dead worker still holds the lease: only Stopping
    assert service.get_invocation_job(stopping).status == "Stopping"
    time.sleep(0.3)  # the dead worker's lease runs out
    worker = Worker(service, FakeStages(tmp_path), runners=Runners({"batch": "tests.batch.fake_runner:make"}))
    assert worker.run_once() == crashing and worker.run_once() == stopping
    failed = service.get_invocation_job(crashing)
    assert failed.status == "Failed" and "giving up" in (failed.message or "")
    assert service.get_invocation_job(stopping).status == "Stopped"  # run to its stop, not failed


def test_bedrock_ids_name_the_models_the_foundation_table_maps_them_to(tmp_path: Any) -> None:
    from stillhouse.models.foundation import active_table

    service = JobService(tmp_path / "jobs.db", jobs_root=tmp_path / "jobs")
    table = active_table()
    for model_id in ("amazon.nova-micro-v1:0:128k", "us.amazon.nova-premier-v1:0"):
        assert service.model_spec(model_id) == table.spec_for(model_id)
        assert service.model_spec(model_id) != model_id
    arn = "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"
    assert service.model_spec(arn) == table.spec_for("amazon.nova-pro-v1:0")
