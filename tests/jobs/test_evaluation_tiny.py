"""An evaluation job on real tiny models: a random-weight 2-layer Llama answers and judges with the
seed's OverallQuality rubric, loaded through the registry; every record gets its score entry (a
random judge's unreadable answer is kept as such, with its text), and the report is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillhouse.jobs import JobService
from stillhouse.jobs.evaluation_run import EvaluationRunner, output_prefix
from stillhouse.sources.objectstore import open_store

from .evaluation_helpers import DATASET, dataset_lines, eval_body
from .helpers import build_tiny_student

pytestmark = pytest.mark.model


def test_a_tiny_judge_writes_a_score_entry_per_record(service: JobService, tmp_path: Path) -> None:
    tiny = f"hf:{build_tiny_student(tmp_path / 'tiny')}"
    open_store().put_bytes(DATASET, "\n".join(dataset_lines(2)).encode())
    body = eval_body(
        models=[
            {
                "bedrockModel": {
                    "modelIdentifier": tiny,
                    "inferenceParams": '{"inferenceConfig": {"maxTokens": 8}}',
                }
            }
        ],
        metrics=["OverallQuality"],
        judge=None,
    )
    body["evaluationConfig"]["automated"]["customMetricConfig"]["evaluatorModelConfig"] = {
        "bedrockEvaluatorModels": [{"modelIdentifier": tiny}]
    }
    job_id = service.evaluation_job_id(service.create_evaluation_job(body).jobArn)
    job = EvaluationRunner().run(service, job_id, lambda: False)
    assert job.status == "Completed", job.failureMessages
    base = output_prefix(job, job_id)
    [out] = [u for u in open_store().list(base + "/models/") if u.endswith("_output.jsonl")]
    lines = [json.loads(x) for x in open_store().get_bytes(out).decode().splitlines()]
    assert len(lines) == 2
    for line in lines:
        [entry] = line["automatedEvaluationResult"]["scores"]
        assert (
            entry["metricName"] == "OverallQuality"
            and entry["evaluatorDetails"][0]["modelIdentifier"] == tiny
        )
        assert (entry["result"] is None and entry["error"]) or 1.0 <= entry["result"] <= 5.0
        assert line["modelResponses"][0]["modelIdentifier"] == tiny
    cost = json.loads(open_store().get_bytes(f"{base}/summary.json"))[tiny]["cost"]
    assert cost["core_seconds_mean"] > 0 and cost["cost_per_1k_queries"] > 0  # measured, not zero
    assert b"OverallQuality" in open_store().get_bytes(f"{base}/report.html")
