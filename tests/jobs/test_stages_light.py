"""Real stages without training (no torch): a stop mid-labelling, and invocation logs that match nothing."""

from __future__ import annotations

import gzip
import json
import pickle
from functools import partial
from pathlib import Path

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.jobs import JobService
from stillhouse.jobs.pipeline import run_job
from stillhouse.jobs.stages import DefaultStages
from stillhouse.models.fake import FakeModel

from .helpers import job_request, prompt_line, router_prompts


def test_stop_mid_labelling(service: JobService, stillhouse_home: Path) -> None:
    from stillhouse.sources.objectstore import open_store

    store = open_store()
    store.put_bytes("s3://data/train.jsonl", "\n".join(map(prompt_line, router_prompts(120))).encode())
    job_id = service.job_id(service.create_job(job_request()).jobArn)
    service.store.claim_job("this-test", 60)  # as a worker would, so the stop is only requested

    def answer(messages, params) -> str:
        if len(fake.calls) == 10:
            service.stop_job(job_id)
        return "audio"

    fake = FakeModel(answer, name="teacher")
    stages = DefaultStages(load_teacher=lambda spec: fake, embedder=None, store=store)
    job = run_job(service, job_id, stages, lambda: service.get_job(job_id).status == "Stopping")
    assert job.status == "Stopped"
    assert job.statusDetails.validationDetails.status == "Completed"
    assert job.statusDetails.dataProcessingDetails.status == "Stopped"
    assert job.statusDetails.trainingDetails.status == "NotStarted"
    assert len(fake.calls) == 10  # no request after the stop
    labelled = (service.job_dir(job_id) / "data" / "labelled.jsonl").read_text().splitlines()
    assert len(labelled) == 10  # every answer given before the stop was kept


def test_prompt_response_logs_from_another_model_fail_with_the_reason(
    service: JobService, stillhouse_home: Path
) -> None:
    from stillhouse.sources.objectstore import open_store

    store = open_store()
    log = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-11-20T10:00:00Z",
        "requestId": "r1",
        "operation": "ChatCompletions",
        "modelId": "not-the-teacher",
        "input": {"inputBodyJson": {"messages": [{"role": "user", "content": "q"}]}},
        "output": {"outputBodyJson": {"choices": [{"message": {"role": "assistant", "content": "a"}}]}},
    }
    store.put_bytes("s3://logs/app/2026/11/20/10/0.json.gz", gzip.compress(json.dumps(log).encode()))
    body = job_request(
        trainingDataConfig={
            "invocationLogsConfig": {
                "usePromptResponse": True,
                "invocationLogSource": {"s3Uri": "s3://logs/app/"},
            }
        }
    )
    job_id = service.job_id(service.create_job(body).jobArn)
    job = run_job(service, job_id, DefaultStages(embedder=None, store=store), lambda: False)
    assert job.status == "Failed"
    assert "1 from a model other than the teacher" in job.failureMessage
    assert job.failureMessage.startswith("trainingDataConfig.invocationLogsConfig: no usable invocation log")


def test_a_teacher_that_cannot_load_fails_the_job_once(service: JobService, stillhouse_home: Path) -> None:
    from stillhouse.errors import NotFoundError
    from stillhouse.sources.objectstore import open_store

    store = open_store()
    store.put_bytes("s3://data/train.jsonl", "\n".join(map(prompt_line, router_prompts(100))).encode())
    loads = []

    def load(spec: str):
        loads.append(spec)
        raise NotFoundError(f"unknown model {spec!r}", field="teacherModelIdentifier")

    job_id = service.job_id(service.create_job(job_request()).jobArn)
    job = run_job(
        service, job_id, DefaultStages(load_teacher=load, embedder=None, store=store), lambda: False
    )
    assert job.status == "Failed" and job.failureMessage == "teacherModelIdentifier: unknown model 'teacher'"
    assert job.statusDetails.dataProcessingDetails.status == "Failed" and loads == ["teacher"]


def test_bedrock_ids_load_the_specs_the_foundation_table_maps(
    service: JobService, stillhouse_home: Path, monkeypatch
) -> None:
    """A notebook's teacher and student ids: the teacher loads its mapped spec (the cache still keys
    on the job's identifier) and training gets the mapped student spec."""
    from stillhouse.models.foundation import ENV_FILE
    from stillhouse.sources.objectstore import open_store

    table = stillhouse_home / "fm.json"
    table.write_text(
        json.dumps({"amazon.nova-pro-v1:0": "tiny-teacher", "amazon.nova-micro-v1:0:128k": "tiny-student"})
    )
    monkeypatch.setenv(ENV_FILE, str(table))
    store = open_store()
    store.put_bytes("s3://data/train.jsonl", "\n".join(map(prompt_line, router_prompts(100))).encode())
    loads, trained = [], []

    class Stop(Exception):
        pass

    def train(config, *, should_stop):
        trained.append(config.student)
        raise Stop()

    body = job_request(baseModelIdentifier="amazon.nova-micro-v1:0:128k")
    body["customizationConfig"]["distillationConfig"]["teacherModelConfig"]["teacherModelIdentifier"] = (
        "us.amazon.nova-pro-v1:0"
    )
    job_id = service.job_id(service.create_job(body).jobArn)
    fake = FakeModel(lambda m, p: "audio", name="teacher")
    stages = DefaultStages(
        load_teacher=lambda spec: loads.append(spec) or fake, embedder=None, store=store, train=train
    )
    job = run_job(service, job_id, stages, lambda: False)
    assert loads == ["tiny-teacher"] and trained == ["tiny-student"]
    assert job.status == "Failed" and "Stop" in job.failureMessage


def test_a_kd_job_whose_teacher_has_no_log_probabilities_fails_before_any_request(
    service: JobService, stillhouse_home: Path
) -> None:
    from stillhouse.sources.objectstore import open_store

    store = open_store()
    store.put_bytes("s3://data/train.jsonl", "\n".join(map(prompt_line, router_prompts(100))).encode())
    body = job_request(hyperParameters={"epochCount": "1", "distillationMethod": "kd", "kdTopK": "5"})
    job_id = service.job_id(service.create_job(body).jobArn)
    fake = FakeModel(lambda messages, params: "audio", name="teacher")
    stages = DefaultStages(load_teacher=lambda spec: fake, embedder=None, store=store)
    job = run_job(service, job_id, stages, lambda: False)
    assert job.status == "Failed"
    assert "cannot return token log-probabilities" in job.failureMessage
    assert fake.calls == []


def test_the_jobs_teacher_words_its_refusals_for_the_job_and_ships_without_its_stop_check() -> None:
    from stillhouse.jobs.stages import LazyTeacher, _Interrupted
    from stillhouse.models.lazy import ModelUnavailable, load_failure

    ask, params = [Message(role="user", content="q")], GenerationParams(max_tokens=1)
    stopping = False
    teacher = LazyTeacher("us.amazon.nova-pro-v1:0", partial(FakeModel, ["x"]), lambda: stopping)
    with pytest.raises(ModelUnavailable) as err:
        teacher.score_answer(ask, "x", 3)
    cause = load_failure(err.value)
    assert cause.field == "hyperParameters" and "student format" in cause.message
    stopping = True
    with pytest.raises(_Interrupted):
        teacher.generate(ask, params)
    shipped = pickle.loads(pickle.dumps(teacher))  # to a remote worker: the driver asks the stop
    assert shipped.generate(ask, params).text == "x"
