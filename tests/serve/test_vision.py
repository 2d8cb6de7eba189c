"""Image content through `stillhouse serve` to a tiny random vision model (the real transformers
vision backend behind the real loader): Converse and chat-completions requests with an image reach
it; a text-only model refuses them with a ValidationException that says why."""

from __future__ import annotations

import base64
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from tests.photos import photo_png
from tests.serve.helpers import API_KEY, make_custom_model
from tests.tiny_llama import save_tiny_llama
from tests.tiny_vlm import save_tiny_vlm, vlm_tokenizer

from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

pytestmark = [pytest.mark.integration, pytest.mark.model]

PNG = photo_png("chelsea", 48)


@pytest.fixture
def custom_models(jobs: Any, home: Path, tmp_path: Path) -> dict[str, str]:
    """Two custom models, a tiny vision one and a tiny text one: ``name -> model ARN``."""
    built = {
        "vlm": save_tiny_vlm(tmp_path / "vlm", [SYSTEM_PROMPT, USER_PROMPT]),
        "text": save_tiny_llama(tmp_path / "text", vlm_tokenizer([USER_PROMPT])),
    }
    arns = {}
    for name, folder in built.items():
        arns[name] = make_custom_model(jobs, home, name)
        shutil.copytree(folder, home / "models" / name, dirs_exist_ok=True)
    return arns


@pytest.fixture
def model_loader(custom_models: dict[str, str]) -> Any:
    """The server's real model loader (the conftest's serves FakeModels)."""
    from stillhouse.serve.deployments import default_loader

    return default_loader(1)


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset()


@pytest.fixture
def deployed(bedrock: Any, custom_models: dict[str, str]) -> dict[str, str]:
    """Both models deployed and Active: ``name -> deployment ARN``."""
    arns = {}
    for name, model_arn in custom_models.items():
        dep = bedrock.create_custom_model_deployment(modelDeploymentName=f"{name}-dep", modelArn=model_arn)
        arns[name] = dep["customModelDeploymentArn"]
    deadline = time.monotonic() + 120
    for arn in arns.values():
        while (
            status := bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"]
        ) != "Active":
            assert status == "Creating" and time.monotonic() < deadline, status
            time.sleep(0.1)
    return arns


def converse_image(runtime: Any, model_id: str) -> dict[str, Any]:
    return runtime.converse(
        modelId=model_id,
        system=[{"text": SYSTEM_PROMPT}],
        messages=[
            {
                "role": "user",
                "content": [{"text": USER_PROMPT}, {"image": {"format": "png", "source": {"bytes": PNG}}}],
            }
        ],
        inferenceConfig={"maxTokens": 4, "temperature": 0.0},
    )


def test_converse_with_an_image_reaches_a_vision_model(runtime, deployed):
    out = converse_image(runtime, deployed["vlm"])
    assert out["stopReason"] == "max_tokens" and out["usage"]["outputTokens"] == 4
    assert out["usage"]["inputTokens"] > 16  # the image's 16 tokens and the prompt


def test_chat_completions_with_an_image_reaches_a_vision_model(server, deployed):
    import openai

    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    chat = openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0).chat.completions.create(
        model=deployed["vlm"],
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": USER_PROMPT},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            },
        ],
        max_tokens=4,
        temperature=0,
    )
    assert chat.choices[0].finish_reason == "length" and chat.usage.completion_tokens == 4
    assert chat.usage.prompt_tokens > 16


def test_a_text_model_refuses_an_image_with_a_validation_exception(runtime, deployed):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        converse_image(runtime, deployed["text"])
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "text-only model; images are not supported" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_chat_completions_to_a_text_model_with_an_image_is_a_400(server, deployed):
    import openai

    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    client = openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=deployed["text"],
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}],
            max_tokens=2,
        )
    assert caught.value.status_code == 400 and "text-only model" in str(caught.value)
