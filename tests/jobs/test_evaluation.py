"""Evaluation jobs in-process: create-time refusals, the runner over FakeModel judges and students (the
job logic, not real judges), Bedrock's output layout, precomputed responses, stops and resumes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stillhouse.errors import ConflictError, InvalidInputError
from stillhouse.jobs import JobService
from stillhouse.jobs.evaluation_run import EvaluationRunner, output_prefix
from stillhouse.jobs.pipeline import Abandoned
from stillhouse.sources.objectstore import open_store

from .evaluation_helpers import DATASET, Loader, dataset_lines, eval_body


def create(service: JobService, lines: list[str], **kw: Any) -> str:
    open_store().put_bytes(DATASET, "\n".join(lines).encode())
    return service.evaluation_job_id(service.create_evaluation_job(eval_body(**kw)).jobArn)


def output(service: JobService, job_id: str, model: str = "student-model") -> list[dict[str, Any]]:
    base = output_prefix(service.get_evaluation_job(job_id), job_id)
    uri = f"{base}/models/{model}/taskTypes/Custom/datasets/heldout/{job_id}_output.jsonl"
    return [json.loads(line) for line in open_store().get_bytes(uri).decode().splitlines()]


def scores(line: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["metricName"]: s for s in line["automatedEvaluationResult"]["scores"]}


def test_a_job_with_the_custom_rubric_writes_per_record_scores(service: JobService) -> None:
    job_id = create(service, dataset_lines(3))
    loader = Loader()
    job = EvaluationRunner(load=loader).run(service, job_id, lambda: False)
    assert job.status == "Completed", job.failureMessages
    lines = output(service, job_id)
    assert len(lines) == 3 and lines[0]["inputRecord"]["prompt"] == "red car 0"
    assert lines[0]["modelResponses"][0]["modelIdentifier"] == "student-model"
    got = scores(lines[0])
    assert got["OverallQuality"]["result"] == 4.0  # a custom metric on its own scale
    assert got["OverallQuality"]["evaluatorDetails"] == [
        {"modelIdentifier": "judge-model", "explanation": "close weights"}
    ]
    assert got["Builtin.Correctness"]["result"] == 0.75  # built-ins normalised to 0..1: (4-1)/(5-1)
    assert got["Task.video-router"]["result"] == 5.0 and "evaluatorDetails" not in got["Task.video-router"]
    assert len(loader.student.calls) == 3 and len(loader.judge.calls) == 6  # two judged metrics x 3
    prompt = loader.judge.calls[0][0][-1].content
    assert "red car 0" in prompt and "Candidate answer:" in prompt
    base = output_prefix(job, job_id)
    summary = json.loads(open_store().get_bytes(f"{base}/summary.json"))
    assert summary["student-model"]["OverallQuality"] == {"mean": 4.0, "scored": 3, "unscored": 0}
    cost = summary["student-model"]["cost"]  # the shipped table: local compute beside Nova Micro
    assert cost["price_entry"] == "*" and cost["core_seconds_mean"] >= 0 and cost["cost_per_1k_queries"] >= 0
    assert cost["stand_in"] == "amazon.nova-micro-v1:0" and cost["stand_in_cost_per_1k_queries"] > 0
    assert b"<html" in open_store().get_bytes(f"{base}/report.html")
    results = json.loads(open_store().get_bytes(f"{base}/results.json"))
    assert results["models"]["student-model"]["summary"]["judge_mean"] == 4.0
    assert service.progress(job_id)["ran_on"]["executor"] == "local"  # where its calls ran


def test_a_precomputed_source_makes_no_inference_calls(service: JobService) -> None:
    models = [{"precomputedInferenceSource": {"inferenceSourceIdentifier": "my-router"}}]
    job_id = create(service, dataset_lines(4, source="my-router"), models=models)
    loader = Loader()
    assert EvaluationRunner(load=loader).run(service, job_id, lambda: False).status == "Completed"
    assert loader.student.calls == [] and "student-model" not in loader.loaded
    base = output_prefix(service.get_evaluation_job(job_id), job_id)
    cost = json.loads(open_store().get_bytes(f"{base}/summary.json"))["my-router"]["cost"]
    assert cost["cost_per_1k_queries"] is None and cost["stand_in"] is None  # nothing was run to price
    lines = output(service, job_id, "my-router")
    assert len(lines) == 4 and scores(lines[0])["OverallQuality"]["result"] == 4.0


def test_a_record_without_the_sources_response_is_an_error_line(service: JobService) -> None:
    models = [{"precomputedInferenceSource": {"inferenceSourceIdentifier": "my-router"}}]
    job_id = create(
        service, [*dataset_lines(1, source="my-router"), *dataset_lines(1, source="other")], models=models
    )
    EvaluationRunner(load=Loader()).run(service, job_id, lambda: False)
    lines = output(service, job_id, "my-router")
    assert "error" not in lines[0] and "my-router" in lines[1]["error"]
    assert lines[1]["automatedEvaluationResult"]["scores"] == []


def test_an_unparseable_judge_answer_is_recorded_not_dropped(service: JobService) -> None:
    job_id = create(service, dataset_lines(2), metrics=["OverallQuality"])
    EvaluationRunner(load=Loader(judge_answer="I cannot decide.")).run(service, job_id, lambda: False)
    entry = scores(output(service, job_id)[0])["OverallQuality"]
    assert entry["result"] is None and "no score" in entry["error"]
    assert entry["evaluatorDetails"][0]["explanation"] == "I cannot decide."
    base = output_prefix(service.get_evaluation_job(job_id), job_id)
    summary = json.loads(open_store().get_bytes(f"{base}/summary.json"))
    assert summary["student-model"]["OverallQuality"] == {"mean": None, "scored": 0, "unscored": 2}


def test_the_task_rubric_needs_no_judge(service: JobService) -> None:
    body = eval_body(metrics=["Task.video-router"], judge=None)
    body["evaluationConfig"]["automated"].pop("customMetricConfig")
    open_store().put_bytes(DATASET, "\n".join(dataset_lines(2)).encode())
    job_id = service.evaluation_job_id(service.create_evaluation_job(body).jobArn)
    loader = Loader()
    assert EvaluationRunner(load=loader).run(service, job_id, lambda: False).status == "Completed"
    assert (
        loader.judge.calls == [] and scores(output(service, job_id)[1])["Task.video-router"]["result"] == 5.0
    )


def test_a_job_let_go_mid_run_resumes_without_paying_twice(service: JobService) -> None:
    job_id = create(service, dataset_lines(6), metrics=["OverallQuality"])
    loader = Loader()
    runner = EvaluationRunner(load=loader)
    with pytest.raises(Abandoned):
        runner.run(service, job_id, lambda: len(loader.student.calls) >= 3)
    assert runner.run(service, job_id, lambda: False).status == "Completed"
    assert len(loader.student.calls) == 6 and len(loader.judge.calls) == 6


def test_a_requested_stop_ends_stopped(service: JobService) -> None:
    job_id = create(service, dataset_lines(4))
    service.store.claim_job("this-test", 60)
    service.stop_evaluation_job(job_id)
    assert service.get_evaluation_job(job_id).status == "Stopping"
    job = EvaluationRunner(load=Loader()).run(service, job_id, lambda: True)
    assert job.status == "Stopped"
    with pytest.raises(ConflictError):
        service.stop_evaluation_job(job_id)


def test_a_bad_dataset_line_fails_the_job_naming_it(service: JobService) -> None:
    job_id = create(service, [*dataset_lines(1), json.dumps({"prompt": "x", "answer": "y"})])
    job = EvaluationRunner(load=Loader()).run(service, job_id, lambda: False)
    assert (
        job.status == "Failed" and "line 2" in job.failureMessages[0] and "answer" in job.failureMessages[0]
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda b: b.update(applicationType="RagEvaluation"), "RagEvaluation goes with"),
        (
            lambda b: b.update(
                applicationType="RagEvaluation",
                inferenceConfig={"ragConfigs": [{"knowledgeBaseConfig": {"retrieveConfig": {}}}]},
            ),
            "retrieveAndGenerateSourceConfig",
        ),
        (
            lambda b: b.update(
                applicationType="RagEvaluation",
                inferenceConfig={
                    "ragConfigs": [
                        {
                            "precomputedRagSourceConfig": {
                                "retrieveSourceConfig": {"ragSourceIdentifier": "kb"}
                            }
                        }
                    ]
                },
            ),
            "retrieveAndGenerateSourceConfig",
        ),
        (lambda b: b.update(evaluationConfig={"human": {"customMetrics": []}}), "human"),
        (
            lambda b: b["evaluationConfig"]["automated"]["datasetMetricConfigs"][0].update(
                metricNames=["Builtin.Nope"]
            ),
            "Builtin.Nope",
        ),
        (lambda b: b["evaluationConfig"]["automated"].pop("evaluatorModelConfig"), "evaluatorModelConfig"),
        (
            lambda b: b["evaluationConfig"]["automated"]["customMetricConfig"]["customMetrics"][0][
                "customMetricDefinition"
            ].update(
                ratingScale=[
                    {"definition": "good", "value": {"stringValue": "high"}},
                    {"definition": "bad", "value": {"floatValue": 1.0}},
                ]
            ),
            "not a number",
        ),
        (
            lambda b: b["evaluationConfig"]["automated"]["customMetricConfig"]["customMetrics"][0][
                "customMetricDefinition"
            ]["ratingScale"][0].update(value={"floatValue": 5.0, "stringValue": "5"}),
            "exactly one",
        ),
        (
            lambda b: b["inferenceConfig"]["models"][0].update(
                precomputedInferenceSource={"inferenceSourceIdentifier": "x"}
            ),
            "exactly one",
        ),
        (lambda b: b.update(jobName="Upper-Case"), "jobName"),
    ],
)
def test_each_bad_request_is_refused_at_create(service: JobService, change: Any, words: str) -> None:
    body = eval_body()
    change(body)
    with pytest.raises(InvalidInputError, match=words):
        service.create_evaluation_job(body)


def test_an_unknown_task_rubric_is_refused(service: JobService) -> None:
    with pytest.raises(
        InvalidInputError, match="unknown task 'no-such-task'; known: image-keywords, video-router"
    ):
        service.create_evaluation_job(eval_body(metrics=["Task.no-such-task"]))


def test_listing_summarises_models_judges_and_task_types(service: JobService) -> None:
    first = service.create_evaluation_job(eval_body("eval-a")).jobArn
    service.create_evaluation_job(eval_body("eval-b", clientRequestToken="t1"))
    assert service.create_evaluation_job(eval_body("eval-b", clientRequestToken="t1")).jobArn  # idempotent
    page = service.list_evaluation_jobs({"maxResults": 1, "sortOrder": "Ascending"})
    summary = page.jobSummaries[0]
    assert summary.jobArn == first and summary.evaluationTaskTypes == ["Custom"] and page.nextToken
    assert summary.evaluatorModelIdentifiers == ["judge-model"]
    assert summary.inferenceConfigSummary.modelConfigSummary.bedrockModelIdentifiers == ["student-model"]
    assert [s.jobName for s in service.list_evaluation_jobs({"nameContains": "eval-b"}).jobSummaries] == [
        "eval-b"
    ]
    assert service.list_evaluation_jobs({"applicationTypeEquals": "RagEvaluation"}).jobSummaries == []
    assert service.list_invocation_jobs().invocationJobSummaries == []


def test_a_precomputed_rag_source_is_judged_with_its_passages(service: JobService) -> None:
    from .evaluation_helpers import rag_job, rag_line

    uri = "s3://eval-in/citations/evaluation_data_nova_lite_distilled.jsonl"
    open_store().put_bytes(uri, "\n".join(rag_line(i) for i in range(3)).encode())
    arn = service.create_evaluation_job(
        rag_job("citations-nova-lite-distilled-1", uri, "s3://eval-out/citations/")
    ).jobArn
    job_id = service.evaluation_job_id(arn)
    loader = Loader()
    job = EvaluationRunner(load=loader).run(service, job_id, lambda: False)
    assert job.status == "Completed", job.failureMessages
    assert loader.student.calls == [] and len(loader.judge.calls) == 3 * 5  # judges only
    assert "team 1 wrote it" in loader.judge.calls[5][0][-1].content  # faithfulness sees the passages
    prefix = f"s3://eval-out/citations/citations-nova-lite-distilled-1/{job_id}/inference_configs/0/datasets/nova_lite_distilled_dataset/"
    [out] = [u for u in open_store().list(prefix) if u.endswith(".jsonl")]
    turn = json.loads(open_store().get_bytes(out).decode().splitlines()[1])["conversationTurns"][0]
    assert turn["inputRecord"]["prompt"]["content"][0]["text"] == "who wrote report 1?"
    assert turn["output"]["knowledgeBaseIdentifier"] == "nova_lite_distilled_kb"
    assert {r["metricName"]: r["result"] for r in turn["results"]}["Builtin.LogicalCoherence"] == 0.75
    summary = service.list_evaluation_jobs().jobSummaries[0]
    assert summary.inferenceConfigSummary.ragConfigSummary.precomputedRagSourceIdentifiers == [
        "nova_lite_distilled_kb"
    ]


def test_model_ids_become_one_key_segment() -> None:
    from stillhouse.jobs.evaluation_run import path_part

    assert path_part("amazon.nova-lite-v1:0") == "amazon.nova-lite-v1-0"
    arn = "arn:aws:bedrock:us-east-1:123456789012:custom-model/router-v1/abcdef123456"
    assert "/" not in path_part(arn) and ":" not in path_part(arn)


def test_a_judge_that_cannot_load_fails_the_job_once(service: JobService) -> None:
    from stillhouse.errors import NotFoundError
    from stillhouse.models.fake import FakeModel

    job_id = create(service, dataset_lines(3), metrics=["OverallQuality"])

    def load(spec: str) -> FakeModel:
        if "judge" in spec:
            raise NotFoundError(f"unknown model {spec!r}")
        return FakeModel(["x"])

    job = EvaluationRunner(load=load).run(service, job_id, lambda: False)
    assert job.status == "Failed" and "'judge-model' could not be loaded" in job.failureMessages[0]
