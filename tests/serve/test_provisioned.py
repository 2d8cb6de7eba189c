"""Provisioned throughput through boto3: the notebook's create -> InService -> converse, units as
replicas, update, delete, and Bedrock's refusals with nothing stored."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import LOADED, make_custom_model

USER = [{"role": "user", "content": [{"text": "find the guitar solo"}]}]


def _wait(bedrock: Any, arn: str, status: str = "InService") -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (pm := bedrock.get_provisioned_model_throughput(provisionedModelId=arn))["status"] != status:
        assert time.monotonic() < deadline, f"still {pm['status']}"
        time.sleep(0.05)
    return pm


def _code(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    return info.value.response["Error"]["Code"], info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_the_notebooks_provisioned_model_serves_the_custom_model(
    bedrock: Any, runtime: Any, jobs: Any, home: Path
) -> None:
    model_arn = make_custom_model(jobs, home)
    LOADED.clear()
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=2, provisionedModelName="distilled-model-1", modelId=model_arn
    )["provisionedModelArn"]
    assert re.fullmatch(r"arn:aws:bedrock:us-east-1:000000000000:provisioned-model/[a-z0-9]{12}", arn)
    pm = _wait(bedrock, arn)
    assert pm["modelUnits"] == pm["desiredModelUnits"] == 2
    assert pm["modelArn"] == pm["desiredModelArn"] == model_arn
    assert pm["foundationModelArn"] == "arn:aws:bedrock:us-east-1::foundation-model/smollm2-135m"
    assert len(LOADED) == 2  # modelUnits replicas
    for model_id in (arn, "distilled-model-1"):
        out = runtime.converse(modelId=model_id, messages=USER)
        assert out["output"]["message"]["content"] == [{"text": "echo: find the guitar solo"}]
    summaries = bedrock.list_provisioned_model_throughputs(statusEquals="InService")[
        "provisionedModelSummaries"
    ]
    assert [s["provisionedModelArn"] for s in summaries] == [arn]

    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredProvisionedModelName="renamed")
    assert runtime.converse(modelId="renamed", messages=USER)["output"]["message"]["content"]
    with pytest.raises(ClientError):
        runtime.converse(modelId="distilled-model-1", messages=USER)

    bedrock.delete_provisioned_model_throughput(provisionedModelId=arn)
    with pytest.raises(ClientError) as info:
        bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert _code(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError):
        runtime.converse(modelId=arn, messages=USER)


def test_update_to_another_model_goes_updating_then_in_service(bedrock: Any, jobs: Any, home: Path) -> None:
    first, second = make_custom_model(jobs, home, "router-v1"), make_custom_model(jobs, home, "router-v2")
    arn = bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pm", modelId=first)[
        "provisionedModelArn"
    ]
    _wait(bedrock, arn)
    bedrock.update_provisioned_model_throughput(provisionedModelId=arn, desiredModelId=second)
    pm = _wait(bedrock, arn)
    assert pm["modelArn"] == pm["desiredModelArn"] == second


def test_foundation_model_provisioned(bedrock: Any, runtime: Any) -> None:
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="nova", modelId="amazon.nova-micro-v1:0:128k"
    )["provisionedModelArn"]
    pm = _wait(bedrock, arn)
    assert pm["foundationModelArn"].endswith(":foundation-model/amazon.nova-micro-v1:0:128k")
    assert runtime.converse(modelId=arn, messages=USER)["output"]["message"]["content"]


@pytest.mark.parametrize(
    "model_id",
    [
        "arn:aws:bedrock:us-east-1:000000000000:custom-model/gone-abcdefabcdef",
        "no-such-model",
        "amazon.nova-ultra-v9:0",
    ],
)
def test_a_provisioned_model_on_an_unknown_model_is_refused(bedrock: Any, model_id: str) -> None:
    with pytest.raises(ClientError) as info:
        bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pm", modelId=model_id)
    assert _code(info) == ("ResourceNotFoundException", 404)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_a_provisioned_model_on_a_deleted_custom_model(bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn = make_custom_model(jobs, home)
    bedrock.delete_custom_model(modelIdentifier=model_arn)
    with pytest.raises(ClientError) as info:
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pm", modelId=model_arn
        )
    assert _code(info) == ("ResourceNotFoundException", 404)
    assert bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"] == []


def test_a_custom_model_in_use_cannot_be_deleted(bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn = make_custom_model(jobs, home)
    bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pm", modelId=model_arn)
    with pytest.raises(ClientError) as info:
        bedrock.delete_custom_model(modelIdentifier=model_arn)
    assert _code(info) == ("ConflictException", 409)
    assert bedrock.get_custom_model(modelIdentifier=model_arn)["modelArn"] == model_arn


def test_refusals(bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn = make_custom_model(jobs, home)
    bedrock.create_provisioned_model_throughput(modelUnits=1, provisionedModelName="pm", modelId=model_arn)
    with pytest.raises(ClientError) as info:  # a name taken
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="pm", modelId=model_arn
        )
    assert _code(info) == ("ConflictException", 409)
    with pytest.raises(ClientError) as info:  # a bad name
        bedrock.create_provisioned_model_throughput(
            modelUnits=1, provisionedModelName="a b", modelId=model_arn
        )
    assert _code(info) == ("ValidationException", 400)
    with pytest.raises(ClientError) as info:
        bedrock.update_provisioned_model_throughput(
            provisionedModelId="nope", desiredProvisionedModelName="x"
        )
    assert _code(info) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as info:
        bedrock.delete_provisioned_model_throughput(provisionedModelId="nope")
    assert _code(info) == ("ResourceNotFoundException", 404)
    assert len(bedrock.list_provisioned_model_throughputs()["provisionedModelSummaries"]) == 1


def test_provisioned_models_come_back_after_a_restart(
    bedrock: Any, settings: Any, jobs: Any, home: Path
) -> None:
    from fastapi.testclient import TestClient
    from tests.serve.helpers import fake_loader

    from stillhouse.serve.app import create_app
    from stillhouse.serve.deployments import wait_active
    from stillhouse.sources.objectstore import LocalObjectStore

    model_arn = make_custom_model(jobs, home)
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pm", modelId=model_arn
    )["provisionedModelArn"]
    _wait(bedrock, arn)
    again = create_app(
        settings, jobs=jobs, model_loader=fake_loader, store_factory=lambda: LocalObjectStore(home / "s3")
    )
    with TestClient(again):
        wait_active(again.state.ctx.registry.resolve(arn), 10)


def test_an_update_to_an_unknown_model_changes_nothing(bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn = make_custom_model(jobs, home)
    arn = bedrock.create_provisioned_model_throughput(
        modelUnits=1, provisionedModelName="pm", modelId=model_arn
    )["provisionedModelArn"]
    before = _wait(bedrock, arn)
    for desired in ("no-such-model", "amazon.nova-ultra-v9:0"):
        with pytest.raises(ClientError) as info:
            bedrock.update_provisioned_model_throughput(
                provisionedModelId=arn, desiredModelId=desired, desiredProvisionedModelName="other"
            )
        assert _code(info) == ("ResourceNotFoundException", 404)
    after = bedrock.get_provisioned_model_throughput(provisionedModelId=arn)
    assert {k: after[k] for k in ("provisionedModelName", "modelArn", "desiredModelArn", "status")} == {
        k: before[k] for k in ("provisionedModelName", "modelArn", "desiredModelArn", "status")
    }
