"""ListFoundationModels / GetFoundationModel and foundation-model ids at the runtime, through boto3."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import LOADED, boto_client

from stillhouse.sources.invocation_logs import InvocationLogsConfig, read_invocation_logs
from stillhouse.sources.objectstore import LocalObjectStore

USER = [{"role": "user", "content": [{"text": "find the guitar solo"}]}]


def _code(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_list_foundation_models_in_botocore_shape(bedrock: Any) -> None:
    models = bedrock.list_foundation_models()["modelSummaries"]
    ids = {m["modelId"] for m in models}
    assert {"amazon.nova-pro-v1:0", "amazon.nova-micro-v1:0:128k", "meta.llama3-1-70b-instruct-v1:0"} <= ids
    nova = next(m for m in models if m["modelId"] == "amazon.nova-micro-v1:0:128k")
    assert nova["modelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k"
    assert nova["providerName"] == "Amazon" and nova["modelLifecycle"] == {"status": "ACTIVE"}
    assert nova["customizationsSupported"] == ["FINE_TUNING", "DISTILLATION"]


def test_list_filters(bedrock: Any) -> None:
    distillable = bedrock.list_foundation_models(byCustomizationType="DISTILLATION")["modelSummaries"]
    assert distillable and all("DISTILLATION" in m["customizationsSupported"] for m in distillable)
    meta = bedrock.list_foundation_models(byProvider="meta")["modelSummaries"]
    assert meta and {m["providerName"] for m in meta} == {"Meta"}
    on_demand = bedrock.list_foundation_models(byInferenceType="ON_DEMAND", byOutputModality="TEXT")
    assert "amazon.nova-pro-v1:0" in {m["modelId"] for m in on_demand["modelSummaries"]}
    assert "amazon.nova-micro-v1:0:128k" not in {m["modelId"] for m in on_demand["modelSummaries"]}
    assert bedrock.list_foundation_models(byOutputModality="IMAGE")["modelSummaries"] == []


def test_get_foundation_model_by_id_and_arn(bedrock: Any) -> None:
    for identifier in (
        "amazon.nova-pro-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0",
    ):
        details = bedrock.get_foundation_model(modelIdentifier=identifier)["modelDetails"]
        assert details["modelId"] == "amazon.nova-pro-v1:0" and details["modelName"] == "Nova Pro"


@pytest.mark.parametrize(
    ("identifier", "code", "status"),
    [
        ("amazon.nova-ultra-v9:0", "ResourceNotFoundException", 404),
        ("us.amazon.nova-pro-v1:0", "ResourceNotFoundException", 404),  # a profile, no foundation model
        ("NotAnId", "ValidationException", 400),
    ],
)
def test_get_unknown_or_malformed_model(bedrock: Any, identifier: str, code: str, status: int) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.get_foundation_model(modelIdentifier=identifier)
    assert _code(info) == (code, status)


def test_list_refuses_a_bad_filter_value(server: str) -> None:
    """botocore checks enums client-side only when asked; the server refuses them as Bedrock does."""
    from botocore.config import Config

    client = boto_client("bedrock", server, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as info:
        client.list_foundation_models(byCustomizationType="PRETRAINING")
    assert _code(info) == ("ValidationException", 400)
    assert "enum value set" in info.value.response["Error"]["Message"]


def test_converse_on_foundation_ids_answers_with_the_mapped_model(runtime: Any, app: Any, home: Path) -> None:
    LOADED.clear()
    profile_arn = "arn:aws:bedrock:us-east-1:000000000000:inference-profile/us.amazon.nova-pro-v1:0"
    for model_id in (
        "amazon.nova-pro-v1:0",
        "us.amazon.nova-premier-v1:0",
        "amazon.nova-micro-v1:0:128k",
        profile_arn,
    ):
        out = runtime.converse(modelId=model_id, messages=USER)
        assert out["output"]["message"]["content"] == [{"text": "echo: find the guitar solo"}]
    # the two teachers share one loaded model (one spec), the student is another
    assert sorted(m.name for m in LOADED) == ["fake:qwen2.5-coder-1.5b", "fake:smollm2-135m"]
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    answer = json.loads(
        runtime.invoke_model(modelId="meta.llama3-1-70b-instruct-v1:0", body=body)["body"].read()
    )
    assert answer
    app.state.ctx.logs.flush()
    config = InvocationLogsConfig.model_validate(
        {"invocationLogSource": {"s3Uri": "s3://stillhouse-logs/invocation-logs/"}}
    )
    store = LocalObjectStore(home / "s3")
    uris = store.list("s3://stillhouse-logs/invocation-logs/")
    logged = [json.loads(line) for u in uris for line in gzip.decompress(store.get_bytes(u)).splitlines()]
    assert sorted(r["modelId"] for r in logged) == sorted(
        [
            "amazon.nova-pro-v1:0",
            "us.amazon.nova-premier-v1:0",
            "amazon.nova-micro-v1:0:128k",
            profile_arn,
            "meta.llama3-1-70b-instruct-v1:0",
        ]
    )
    assert len(read_invocation_logs(config, teacher_model_id=None, store=store)[0]) == 5


def test_converse_on_an_unknown_foundation_id(runtime: Any) -> None:
    with pytest.raises(ClientError) as info:
        runtime.converse(modelId="amazon.nova-ultra-v9:0", messages=USER)
    assert _code(info) == ("ResourceNotFoundException", 404)
    assert "Could not resolve the foundation model" in info.value.response["Error"]["Message"]


def _job(base: str, teacher: str) -> dict[str, Any]:
    return {
        "jobName": "distil-1",
        "customModelName": "distilled-1",
        "roleArn": "arn:aws:iam::000000000000:role/x",
        "baseModelIdentifier": base,
        "customizationType": "DISTILLATION",
        "trainingDataConfig": {"s3Uri": "s3://data/train.jsonl"},
        "outputDataConfig": {"s3Uri": "s3://out/"},
        "customizationConfig": {
            "distillationConfig": {"teacherModelConfig": {"teacherModelIdentifier": teacher}}
        },
    }


def test_job_with_bedrock_ids_is_accepted_and_maps_to_local_specs(bedrock: Any, jobs: Any) -> None:
    from stillhouse.jobs.specs import local_specs

    arn = bedrock.create_model_customization_job(
        **_job("amazon.nova-micro-v1:0:128k", "amazon.nova-pro-v1:0")
    )["jobArn"]
    job = bedrock.get_model_customization_job(jobIdentifier=arn)
    assert job["baseModelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0:128k"
    assert local_specs(jobs.job_request(jobs.job_id(arn))) == ("smollm2-135m", "qwen2.5-coder-1.5b")


@pytest.mark.parametrize(
    ("base", "teacher", "field"),
    [
        ("amazon.nova-nano-v1:0:64k", "amazon.nova-pro-v1:0", "baseModelIdentifier"),
        ("amazon.nova-micro-v1:0:128k", "us.amazon.nova-giga-v1:0", "teacherModelIdentifier"),
    ],
)
def test_job_with_an_unknown_bedrock_id_is_refused(bedrock: Any, base: str, teacher: str, field: str) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.create_model_customization_job(**_job(base, teacher))
    assert _code(info) == ("ResourceNotFoundException", 404)
    assert field in info.value.response["Error"]["Message"]
    assert bedrock.list_model_customization_jobs()["modelCustomizationJobSummaries"] == []
