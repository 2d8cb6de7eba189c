"""AWS's 01_citations recipe (03_batch_inference, 04_evaluate) replayed through boto3 on loopback: its
create calls as the notebooks make them, and its result paths read back where the notebooks look.
Workers run the jobs in-process on FakeModels (the job logic and wire shapes, not real models)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.batch.helpers import ROLE
from tests.jobs.evaluation_helpers import rag_job, rag_line

from stillhouse.sources.objectstore import LocalObjectStore

RUNNERS = {"batch": "tests.batch.fake_runner:make", "evaluation": "tests.jobs.evaluation_helpers:make_runner"}


def recipe_record(i: int) -> dict[str, Any]:
    """01_prepare_data's create_batch_inf_record with model_type="invoke"."""
    return {
        "recordId": f"id-{i}",
        "modelInput": {
            "system": [{"text": "Answer with citations."}],
            "messages": [
                {"role": "user", "content": [{"text": f"<context>c{i}</context> <question>q{i}</question>"}]}
            ],
            "inferenceConfig": {"temperature": 0.1, "topP": 0.9, "topK": 50, "stopSequences": ["</answer>"]},
        },
    }


def run_all(jobs: Any, tmp_path: Path) -> None:
    from tests.jobs.helpers import FakeStages

    from stillhouse.jobs.worker import Runners, Worker

    worker = Worker(jobs, FakeStages(tmp_path), runners=Runners(RUNNERS))
    while worker.run_once() is not None:
        pass


def test_the_recipes_batch_and_evaluation_calls_run_unchanged(
    bedrock: Any, jobs: Any, home: Path, tmp_path: Path
) -> None:
    store = LocalObjectStore(home / "s3")
    bucket, prefix = "recipe-bucket", "citations_distillation"
    batch_input = f"s3://{bucket}/{prefix}/batch_inference/batch_inf_data.jsonl"
    store.put_bytes(batch_input, "\n".join(json.dumps(recipe_record(i)) for i in range(5)).encode())
    output_uri = f"s3://{bucket}/{prefix}/batch_inference/outputs/"

    # 03_batch_inference: submit_batch_inference_job, verbatim but for the client. (Its first model,
    # us.amazon.nova-premier-v1:0, makes a 64-character jobName: over botocore's 63, refused here.)
    model_id = "amazon.nova-lite-v1:0"
    timestamp = datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
    model_short_name = model_id.split("/")[-1].split(":")[0]
    response = bedrock.create_model_invocation_job(
        jobName=f"distillation-bench-{model_short_name}-{timestamp}",
        modelId=model_id,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": batch_input, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"{output_uri}{model_short_name}/"}},
        roleArn=ROLE,
    )
    job_arn = response["jobArn"]

    # 04_evaluate: create_rag_evaluation_job, verbatim but for the client.
    eval_input = f"s3://{bucket}/{prefix}/evaluation_data_nova_lite_distilled.jsonl"
    store.put_bytes(eval_input, "\n".join(rag_line(i) for i in range(2)).encode())
    name = f"citations-nova-lite-distilled-{datetime.now().strftime('%Y-%m-%d-%H-%M-%S')}"
    eval_arn = bedrock.create_evaluation_job(**rag_job(name, eval_input, f"s3://{bucket}/{prefix}/"))[
        "jobArn"
    ]

    run_all(jobs, tmp_path)

    # download_batch_results: the output prefix, the job id, every *.jsonl.out but the manifest.
    got = bedrock.get_model_invocation_job(jobIdentifier=job_arn)
    assert got["status"] == "Completed" and got["modelId"] == model_id
    location = f"{got['outputDataConfig']['s3OutputDataConfig']['s3Uri']}{job_arn.split('/')[-1]}/"
    outs = [
        k for k in store.list(location) if k.endswith("jsonl.out") and not k.endswith("manifest.json.out")
    ]
    assert len(outs) == 1
    lines = [json.loads(x) for x in store.get_bytes(outs[0]).decode().splitlines()]
    assert [x["recordId"] for x in lines] == [f"id-{i}" for i in range(5)]
    assert lines[0]["modelOutput"]["output"]["message"]["content"][0]["text"].startswith("answer to")

    # download_evaluation_results and eval_jsonl_parser.parse_jsonl_to_df's reads.
    ev = bedrock.get_evaluation_job(jobIdentifier=eval_arn)
    assert ev["status"] == "Completed"
    dataset_name = ev["evaluationConfig"]["automated"]["datasetMetricConfigs"][0]["dataset"]["name"]
    folder = f"{ev['outputDataConfig']['s3Uri']}{ev['jobName']}/{eval_arn.split('/')[-1]}/inference_configs/0/datasets/{dataset_name}"
    [result] = [k for k in store.list(folder + "/") if k.lower().endswith(".jsonl")]
    turn = json.loads(store.get_bytes(result).decode().splitlines()[0])["conversationTurns"][0]
    assert turn["inputRecord"]["referenceResponses"][0]["content"][0]["text"] == "<answer>team 0</answer>"
    assert turn["output"]["modelIdentifier"] == "nova_lite_distilled"
    metrics = {r["metricName"].replace("Builtin.", ""): r["result"] for r in turn["results"]}
    assert set(metrics) == {"Correctness", "Completeness", "Helpfulness", "LogicalCoherence", "Faithfulness"}
