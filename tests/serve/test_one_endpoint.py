"""The S3 and STS cells of AWS's distillation notebooks, arguments as published, with only
``AWS_ENDPOINT_URL`` and keys set: every client finds the one server by itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.serve.helpers import KEY_ID, REGION, SECRET

pytestmark = pytest.mark.integration


def test_notebook_s3_and_sts_cells_run_against_aws_endpoint_url(
    server: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    session = boto3.session.Session()
    s3_client, sts_client = session.client("s3"), session.client("sts")
    bedrock_client = session.client(service_name="bedrock")

    account_id = sts_client.get_caller_identity()["Account"]
    bucket_name = f"bedrock-distillation-{account_id}"
    s3_client.create_bucket(Bucket=bucket_name)
    s3_client.head_bucket(Bucket=bucket_name)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "bedrock.amazonaws.com"},
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket_name}", f"arn:aws:s3:::{bucket_name}/*"],
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }
    s3_client.put_bucket_policy(Bucket=bucket_name, Policy=json.dumps(policy))
    dataset = tmp_path / "training-data.jsonl"
    dataset.write_text('{"schemaVersion": "bedrock-conversation-2024"}\n' * 50)
    s3_client.upload_file(str(dataset), bucket_name, "data/training-data.jsonl")

    paginator = s3_client.get_paginator("list_objects_v2")
    keys = [
        o["Key"]
        for page in paginator.paginate(Bucket=bucket_name, Prefix="data/")
        for o in page.get("Contents", [])
    ]
    assert keys == ["data/training-data.jsonl"]
    s3_client.download_file(bucket_name, "data/training-data.jsonl", str(tmp_path / "back.jsonl"))
    assert (tmp_path / "back.jsonl").read_bytes() == dataset.read_bytes()
    assert (home / "s3" / bucket_name / "data" / "training-data.jsonl").read_bytes() == dataset.read_bytes()
    assert json.loads(s3_client.get_bucket_policy(Bucket=bucket_name)["Policy"]) == policy
    assert bedrock_client.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
