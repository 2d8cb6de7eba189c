"""Builders for the evaluation job tests: a CreateEvaluationJob body with the seed's OverallQuality
rubric, a video-router dataset, FakeModel loaders that count their calls (job logic, not real judges)."""

from __future__ import annotations

import json
from typing import Any

from stillhouse.evaluate.judge import OVERALL_QUALITY
from stillhouse.models.fake import FakeModel

ROLE = "arn:aws:iam::123456789012:role/eval"
DATASET = "s3://eval-in/router/heldout.jsonl"
OUTPUT = "s3://eval-out/results/"
REFERENCE = {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "a scene"}
GOOD = json.dumps(
    {"visual": 0.7, "audio": 0.1, "transcription": 0.1, "metadata": 0.1, "reasoning": "red scene"}
)


def overall_quality_metric() -> dict[str, Any]:
    """The seed's custom rubric in CreateEvaluationJob's customMetricDefinition form."""
    return {
        "customMetricDefinition": {
            "name": OVERALL_QUALITY.name,
            "instructions": OVERALL_QUALITY.instructions,
            "ratingScale": [
                {"definition": level.definition, "value": {"floatValue": level.value}}
                for level in OVERALL_QUALITY.rating_scale
            ],
        }
    }


def dataset_lines(n: int, *, source: str | None = None) -> list[str]:
    lines = []
    for i in range(n):
        line: dict[str, Any] = {
            "prompt": f"red car {i}",
            "referenceResponse": json.dumps(REFERENCE),
            "category": "visual",
        }
        if source is not None:
            line["modelResponses"] = [{"response": GOOD, "modelIdentifier": source}]
        lines.append(json.dumps(line))
    return lines


def eval_body(
    name: str = "router-eval",
    *,
    models: list[dict[str, Any]] | None = None,
    metrics: list[str] | None = None,
    judge: str | None = "judge-model",
    **overrides: Any,
) -> dict[str, Any]:
    automated: dict[str, Any] = {
        "datasetMetricConfigs": [
            {
                "taskType": "Custom",
                "dataset": {"name": "heldout", "datasetLocation": {"s3Uri": DATASET}},
                "metricNames": metrics or ["OverallQuality", "Builtin.Correctness", "Task.video-router"],
            }
        ],
        "customMetricConfig": {
            "customMetrics": [overall_quality_metric()],
            "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": "judge-model"}]},
        },
    }
    if judge is not None:
        automated["evaluatorModelConfig"] = {"bedrockEvaluatorModels": [{"modelIdentifier": judge}]}
    body: dict[str, Any] = {
        "jobName": name,
        "roleArn": ROLE,
        "applicationType": "ModelEvaluation",
        "evaluationConfig": {"automated": automated},
        "inferenceConfig": {"models": models or [{"bedrockModel": {"modelIdentifier": "student-model"}}]},
        "outputDataConfig": {"s3Uri": OUTPUT},
    }
    body.update(overrides)
    return body


RECIPE_JUDGE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


class Loader:
    """``load(spec)`` for the runner: a judge that scores 4 (or garbage on cue), a student answering GOOD."""

    def __init__(self, judge_answer: str = '{"reasoning": "close weights", "score": 4}') -> None:
        self.judge = FakeModel(lambda m, p: judge_answer, name="judge-model")
        self.student = FakeModel(lambda m, p: GOOD, name="student-model")
        self.loaded: list[str] = []

    def __call__(self, spec: str) -> FakeModel:
        from stillhouse.models.foundation import active_table

        self.loaded.append(spec)
        # The recipe's judge is a Bedrock id, which the job loads as the spec the foundation table maps it to.
        return (
            self.judge if "judge" in spec or spec == active_table().spec_for(RECIPE_JUDGE) else self.student
        )


def make_runner() -> Any:
    """The runner factory a worker loads by path in the tests (``tests.jobs.evaluation_helpers:make_runner``)."""
    from stillhouse.jobs.evaluation_run import EvaluationRunner

    return EvaluationRunner(load=Loader())


def rag_line(i: int) -> str:
    """A line as AWS's 01_citations/04_evaluate recipe writes it (create_eval_record)."""
    return json.dumps(
        {
            "conversationTurns": [
                {
                    "prompt": {"content": [{"text": f"who wrote report {i}?"}]},
                    "referenceResponses": [{"content": [{"text": f"<answer>team {i}</answer>"}]}],
                    "output": {
                        "text": f"<answer>team {i}</answer>",
                        "modelIdentifier": "nova_lite_distilled",
                        "knowledgeBaseIdentifier": "nova_lite_distilled_kb",
                        "retrievedPassages": {
                            "retrievalResults": [
                                {"name": f"retrieval_{i}", "content": {"text": f"team {i} wrote it"}}
                            ]
                        },
                    },
                }
            ]
        }
    )


def rag_job(name: str, dataset_uri: str, output_uri: str) -> dict[str, Any]:
    """The recipe's create_rag_evaluation_job call, field for field (its default RAG metrics)."""
    model_identifier = "nova_lite_distilled"
    return {
        "jobName": name,
        "jobDescription": "Evaluate retrieval and generation",
        "roleArn": ROLE,
        "applicationType": "RagEvaluation",
        "inferenceConfig": {
            "ragConfigs": [
                {
                    "precomputedRagSourceConfig": {
                        "retrieveAndGenerateSourceConfig": {"ragSourceIdentifier": f"{model_identifier}_kb"}
                    }
                }
            ]
        },
        "outputDataConfig": {"s3Uri": output_uri},
        "evaluationConfig": {
            "automated": {
                "datasetMetricConfigs": [
                    {
                        "taskType": "QuestionAndAnswer",
                        "dataset": {
                            "name": f"{model_identifier}_dataset",
                            "datasetLocation": {"s3Uri": dataset_uri},
                        },
                        "metricNames": [
                            "Builtin.Correctness",
                            "Builtin.Completeness",
                            "Builtin.Helpfulness",
                            "Builtin.LogicalCoherence",
                            "Builtin.Faithfulness",
                        ],
                    }
                ],
                "evaluatorModelConfig": {"bedrockEvaluatorModels": [{"modelIdentifier": RECIPE_JUDGE}]},
            }
        },
    }
