"""Image content through `stillhouse serve` to tiny random vision models behind the real loader:
Converse and chat-completions requests with an image reach a transformers LLaVA, a Qwen2-VL (its
processor built without torchvision) and a llama.cpp GGUF with its mmproj (libmtmd); a text-only
model, transformers or GGUF, refuses them with a ValidationException that says why."""

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
from tests.tiny_vlm import save_tiny_qwen2_vl, save_tiny_vlm, vlm_tokenizer

from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT

pytestmark = [pytest.mark.integration, pytest.mark.model]

PNG = photo_png("chelsea", 48)
# Each custom model's weights folder, built once for the module: name -> folder builder.
BUILDERS = {
    "vlm": lambda out: save_tiny_vlm(out, [SYSTEM_PROMPT, USER_PROMPT]),
    "qwen2-vl": lambda out: save_tiny_qwen2_vl(out, [SYSTEM_PROMPT, USER_PROMPT]),
    "text": lambda out: save_tiny_llama(out, vlm_tokenizer([USER_PROMPT])),
}
# The image tokens each vision model's prompt holds at least (LLaVA: 16; Qwen2-VL: 4 for a 32 x 32
# resize; the GGUF Idefics3: 4 per 32 px tile of the 48 px image and its global view).
IMAGE_TOKENS = {"vlm": 16, "qwen2-vl": 4, "gguf-vlm": 4}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def gguf_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Idefics3 as llama.cpp serves it: ``gguf-vlm`` holds model.gguf and its mmproj
    (named as llama.cpp's converter names one), ``gguf-text`` the same model.gguf alone."""
    pytest.importorskip("llama_cpp")
    from tests.tiny_vlm import GGUF_NEWLINES, save_tiny_idefics3, write_tiny_idefics3_gguf

    root = tmp_path_factory.mktemp("gguf")
    source = save_tiny_idefics3(root / "idefics3", [SYSTEM_PROMPT, USER_PROMPT, GGUF_NEWLINES])
    model, mmproj = write_tiny_idefics3_gguf(source, root / "written")
    vision, text = root / "gguf-vlm", root / "gguf-text"
    for folder in (vision, text):
        folder.mkdir()
        shutil.copy(model, folder / "model.gguf")
    shutil.copy(mmproj, vision / "mmproj-tiny-idefics3-f32.gguf")
    return {"gguf-vlm": vision, "gguf-text": text}


def require_libmtmd() -> None:
    from stillhouse.errors import MissingDependencyError
    from stillhouse.models.llamacpp_vision import mtmd_module

    try:
        mtmd_module()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def model_loader() -> Any:
    """The server's real model loader (the conftest's serves FakeModels)."""
    from stillhouse.serve.deployments import default_loader

    return default_loader(1)


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset()


@pytest.fixture
def deploy(bedrock: Any, jobs: Any, home: Path) -> Any:
    """``deploy(name, folder)``: the folder registered as a custom model, deployed and Active;
    returns the deployment ARN."""

    def deployed(name: str, folder: Path) -> str:
        model_arn = make_custom_model(jobs, home, name)
        shutil.copytree(folder, home / "models" / name, dirs_exist_ok=True)
        dep = bedrock.create_custom_model_deployment(modelDeploymentName=f"{name}-dep", modelArn=model_arn)
        arn = dep["customModelDeploymentArn"]
        deadline = time.monotonic() + 120
        while (
            status := bedrock.get_custom_model_deployment(customModelDeploymentIdentifier=arn)["status"]
        ) != "Active":
            assert status == "Creating" and time.monotonic() < deadline, status
            time.sleep(0.1)
        return arn

    return deployed


@pytest.fixture(params=["vlm", "qwen2-vl", "gguf-vlm"])
def vision_model(request: pytest.FixtureRequest, deploy: Any) -> tuple[str, str]:
    """(name, deployment ARN) of each vision model in turn."""
    name = request.param
    if name.startswith("gguf"):
        require_libmtmd()
        folder = request.getfixturevalue("gguf_folders")[name]
    else:
        folder = request.getfixturevalue("folders")[name]
    return name, deploy(name, folder)


@pytest.fixture(params=["text", "gguf-text"])
def text_model(request: pytest.FixtureRequest, deploy: Any) -> str:
    """The deployment ARN of each text-only model in turn (the GGUF loads without libmtmd)."""
    fixture = "gguf_folders" if request.param.startswith("gguf") else "folders"
    return deploy(request.param, request.getfixturevalue(fixture)[request.param])


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


IMAGE_PART = {
    "type": "image_url",
    "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
}


def chat(server: str, model_id: str, messages: list[dict[str, Any]]) -> Any:
    import openai

    client = openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0)
    return client.chat.completions.create(model=model_id, messages=messages, max_tokens=4, temperature=0)


def chat_image(server: str, model_id: str) -> Any:
    user = {"role": "user", "content": [{"type": "text", "text": USER_PROMPT}, IMAGE_PART]}
    return chat(server, model_id, [{"role": "system", "content": SYSTEM_PROMPT}, user])


def test_converse_with_an_image_reaches_a_vision_model(runtime, vision_model):
    name, arn = vision_model
    out = converse_image(runtime, arn)
    assert out["stopReason"] == "max_tokens" and out["usage"]["outputTokens"] == 4
    text_only = runtime.converse(
        modelId=arn,
        system=[{"text": SYSTEM_PROMPT}],
        messages=[{"role": "user", "content": [{"text": USER_PROMPT}]}],
        inferenceConfig={"maxTokens": 1},
    )
    # The image's tokens are part of the prompt the model read.
    assert out["usage"]["inputTokens"] >= text_only["usage"]["inputTokens"] + IMAGE_TOKENS[name]


def test_chat_completions_with_an_image_reaches_a_vision_model(server, runtime, vision_model):
    name, arn = vision_model
    chat = chat_image(server, arn)
    assert chat.choices[0].finish_reason == "length" and chat.usage.completion_tokens == 4
    converse = converse_image(runtime, arn)  # the same conversation, the other protocol
    assert chat.usage.prompt_tokens == converse["usage"]["inputTokens"]
    assert chat.choices[0].message.content == converse["output"]["message"]["content"][0]["text"]


def test_a_text_model_refuses_an_image_with_a_validation_exception(runtime, text_model):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        converse_image(runtime, text_model)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "text-only model; images are not supported" in error["Message"]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_chat_completions_to_a_text_model_with_an_image_is_a_400(server, text_model):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        chat(server, text_model, [{"role": "user", "content": [IMAGE_PART]}])
    assert caught.value.status_code == 400 and "text-only model" in str(caught.value)


@pytest.fixture
def nova_lite_gguf(gguf_folders: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Nova Lite's id mapped (a user's foundation-model file) to the spec of a GGUF and its mmproj."""
    import json

    folder = gguf_folders["gguf-vlm"]
    spec = f"llamacpp:{folder / 'model.gguf'}?mmproj={next(folder.glob('mmproj*.gguf'))}"
    table = tmp_path / "foundation.json"
    table.write_text(json.dumps({"amazon.nova-lite-v1:0": spec}))
    monkeypatch.setenv("STILLHOUSE_FOUNDATION_MODELS", str(table))
    return "amazon.nova-lite-v1:0"


def test_a_foundation_id_mapped_to_a_gguf_and_its_mmproj_reads_the_image(nova_lite_gguf, runtime):
    """The ``llamacpp:MODEL.gguf?mmproj=MMPROJ.gguf`` spec loads on first use behind a Bedrock id
    (the table is read when the app is built, after the fixture above has named the file)."""
    require_libmtmd()
    out = converse_image(runtime, nova_lite_gguf)
    assert out["stopReason"] == "max_tokens" and out["usage"]["outputTokens"] == 4
    again = converse_image(runtime, "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0")
    assert again["output"] == out["output"] and again["usage"] == out["usage"]  # one model, greedy
