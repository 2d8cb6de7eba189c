"""A customization job's outputs, where Bedrock lays them out, read back through the S3 API."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from tests.serve.helpers import boto_client

from stillhouse.jobs.stages import upload_outputs
from stillhouse.sources.objectstore import LocalObjectStore
from stillhouse.train import artifacts
from stillhouse.train.checkpoint import MetricRow

pytestmark = pytest.mark.integration


def test_job_metrics_are_listed_and_read_through_s3(server: str, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "train"
    training = [MetricRow(step=s, epoch=1, loss=2.0 / s) for s in (1, 2, 3)]
    artifacts.write_metrics(out / artifacts.TRAINING_CSV, training, "training_loss")
    artifacts.write_metrics(
        out / artifacts.VALIDATION_CSV, [MetricRow(step=3, epoch=1, loss=0.5)], "validation_loss"
    )
    s3: Any = boto_client("s3", server)
    s3.create_bucket(Bucket="distillation-output")
    uri = upload_outputs(LocalObjectStore(home / "s3"), out, "s3://distillation-output/runs/", "ab12cd34ef56")
    prefix = "runs/model-customization-job-ab12cd34ef56/"
    assert uri == f"s3://distillation-output/{prefix}"
    listed = s3.get_paginator("list_objects_v2").paginate(Bucket="distillation-output", Prefix=prefix)
    assert sorted(o["Key"] for page in listed for o in page["Contents"]) == [
        prefix + "training_artifacts/step_wise_training_metrics.csv",
        prefix + "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
    ]
    body = s3.get_object(
        Bucket="distillation-output", Key=prefix + "training_artifacts/step_wise_training_metrics.csv"
    )
    rows = list(csv.DictReader(io.StringIO(body["Body"].read().decode())))
    assert [(r["step_number"], r["training_loss"]) for r in rows] == [
        ("1", "2.000000"),
        ("2", "1.000000"),
        ("3", "0.666667"),
    ]
    assert float(rows[0]["perplexity"]) == pytest.approx(7.389056, abs=1e-5)  # exp(2)
    validation = (
        s3.get_object(
            Bucket="distillation-output",
            Key=prefix + "validation_artifacts/post_fine_tuning_validation/validation_metrics.csv",
        )["Body"]
        .read()
        .decode()
    )
    assert validation.splitlines()[0] == "step_number,epoch_number,validation_loss,perplexity"
