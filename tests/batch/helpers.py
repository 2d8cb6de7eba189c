"""Builders for the batch tests: input lines in each body dialect and a job request as boto3 sends it."""

from __future__ import annotations

import json
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/batch"
INPUT = "s3://batch-in/prompts/records.jsonl"
OUTPUT = "s3://batch-out/results/"


def converse_input(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}], "inferenceConfig": {"maxTokens": 8}}


def nova_input(text: str) -> dict[str, Any]:
    return {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"max_new_tokens": 8},
    }


def record_line(index: int, body: dict[str, Any] | None = None) -> str:
    return json.dumps({"recordId": f"rec-{index:04d}", "modelInput": body or nova_input(f"question {index}")})


def input_lines(n: int, *, malformed_at: int | None = None) -> list[str]:
    lines = [record_line(i) for i in range(n)]
    if malformed_at is not None:
        lines[malformed_at] = '{"recordId": "broken", "modelInput": {"messages": "not a list"'  # cut off
    return lines


def job_body(name: str = "batch-1", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobName": name,
        "roleArn": ROLE,
        "modelId": "fake-model",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": INPUT, "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUTPUT}},
    }
    body.update(overrides)
    return body


def answer(messages: Any, params: Any) -> str:
    return "answer to " + messages[-1].content
