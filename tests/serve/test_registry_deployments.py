"""Deployments loaded through the real model registry (not the FakeModel loader): a custom model
whose folder is a saved fast router is deployed and answers Converse through boto3."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.serve.helpers import make_custom_model

USER = [{"role": "user", "content": [{"text": "find the guitar solo"}]}]


@pytest.fixture
def model_loader() -> Any:
    """The server's own loader: specs go through ``stillhouse.models.load_model``."""
    from stillhouse.serve.deployments import default_loader

    return default_loader(threads=1)


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset()


def _save_tiny_router(folder: Path) -> None:
    from stillhouse.models.embeddings import HashingEmbedder
    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.trainer import fit_embeddings

    router = FastRouter(HashingEmbedder(32), embedder_name="hashing:32")
    fit_embeddings(router, np.eye(32)[:4], np.eye(4) * 0.7 + 0.075)
    router.save(folder)


def _wait_active(bedrock: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while (dep := bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn))["status"] not in (
        "Active",
        "Failed",
    ):
        assert time.monotonic() < deadline, "deployment did not finish loading"
        time.sleep(0.05)
    return dep


def test_a_fast_router_folder_is_deployed_and_answers_converse(
    bedrock: Any, runtime: Any, jobs: Any, home: Path
) -> None:
    model_arn = make_custom_model(jobs, home, name="fast-router-v1")
    _save_tiny_router(jobs.custom_model_dir(model_arn))
    dep = bedrock.create_custom_model_deployment(modelDeploymentName="router-fast", modelArn=model_arn)
    status = _wait_active(bedrock, dep["customModelDeploymentArn"])
    assert status["status"] == "Active", status.get("failureMessage")
    out = runtime.converse(modelId="router-fast", messages=USER, inferenceConfig={"maxTokens": 20})
    answer = json.loads(out["output"]["message"]["content"][0]["text"])
    weights = [answer[m] for m in ("visual", "audio", "transcription", "metadata")]
    assert abs(sum(weights) - 1.0) < 0.02 and answer["reasoning"]
    assert out["usage"]["outputTokens"] == 0  # the head answers; no tokens are generated


def test_a_folder_that_holds_no_model_fails_its_deployment_with_the_reason(
    bedrock: Any, jobs: Any, home: Path
) -> None:
    model_arn = make_custom_model(jobs, home, name="empty-v1")  # an empty folder: no weights at all
    dep = bedrock.create_custom_model_deployment(modelDeploymentName="empty", modelArn=model_arn)
    status = _wait_active(bedrock, dep["customModelDeploymentArn"])
    assert status["status"] == "Failed" and "config.json" in status["failureMessage"]
