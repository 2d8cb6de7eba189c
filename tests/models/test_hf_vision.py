"""The transformers vision backend on a tiny random LLaVA built in the test: rendering with the
model's own chat template and image tokens, generation, and how the registry finds it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.photos import photo_png
from tests.tiny_vlm import IMAGE_TOKEN, save_tiny_idefics3, save_tiny_vlm

from stillhouse.chat import GenerationParams, Image, Message
from stillhouse.errors import CorruptModelError, InvalidInputError, MissingDependencyError
from stillhouse.models.hf_vision import encode_with_processor, is_vision_folder, processor_chat
from stillhouse.models.registry import load_model, resolve
from stillhouse.tasks.image_keywords import image_messages
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"), [SYSTEM_PROMPT, USER_PROMPT, "cat, red"])


def photo(name: str = "astronaut") -> Image:
    return Image(format="png", data=photo_png(name, 64))


def test_processor_chat_puts_each_image_before_its_text():
    messages = [Message(role="system", content="s"), Message(role="user", content="u", images=(photo(),))]
    assert processor_chat(messages) == [
        {"role": "system", "content": [{"type": "text", "text": "s"}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "u"}]},
    ]


def test_a_vision_folder_is_told_apart_by_its_config(tiny_vlm, tmp_path):
    assert is_vision_folder(tiny_vlm)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    assert not is_vision_folder(tmp_path) and not is_vision_folder(tmp_path / "none")


@pytest.mark.model
def test_an_image_record_is_rendered_with_the_models_template_and_image_tokens(tiny_vlm):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    inputs = encode_with_processor(processor, image_messages(photo()), add_generation_prompt=True)
    image_id = processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    ids = inputs["input_ids"][0].tolist()
    assert ids.count(image_id) == 16  # (32 / 8)^2 patches, the class token dropped
    assert tuple(inputs["pixel_values"].shape) == (1, 3, 32, 32)
    tokens = processor.tokenizer.convert_ids_to_tokens(ids)
    assert tokens[:2] == ["<|im_start|>", "system"] and tokens[-2:] == ["<|im_start|>", "assistant"]
    user = len(tokens) - 1 - tokens[::-1].index("user")
    assert tokens[user + 1 : user + 17] == [IMAGE_TOKEN] * 16 and tokens[user + 17] == "Extract"


@pytest.mark.model
def test_the_registry_loads_a_vision_folder_and_it_generates(tiny_vlm):
    assert resolve(str(tiny_vlm)).backend == "hf-vision"
    assert resolve(f"hf:{tiny_vlm}").backend == "hf-vision"
    model = load_model(str(tiny_vlm))
    completion = model.generate(image_messages(photo("coffee")), GenerationParams(max_tokens=6))
    assert completion.output_tokens == 6 and completion.stop_reason == "max_tokens"
    assert completion.input_tokens > 16 and completion.model == str(tiny_vlm)
    again = model.generate(image_messages(photo("coffee")), GenerationParams(max_tokens=6))
    assert again.text == completion.text  # greedy
    text_only = model.generate([Message(role="user", content=USER_PROMPT)], GenerationParams(max_tokens=2))
    assert text_only.output_tokens == 2


@pytest.mark.model
def test_an_idefics3_folder_smolvlm_family_generates_from_an_image(tmp_path):
    folder = save_tiny_idefics3(tmp_path / "idefics3", [USER_PROMPT])
    assert resolve(str(folder)).backend == "hf-vision"
    model = load_model(str(folder))
    image_id = model.processor.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    inputs = model._encode(image_messages(photo()))
    assert inputs["input_ids"][0].tolist().count(image_id) == 4  # (32 / 8)^2 patches, pixel-shuffled by 2
    completion = model.generate(image_messages(photo()), GenerationParams(max_tokens=3))
    assert completion.output_tokens == 3 and completion.input_tokens == inputs["input_ids"].shape[1]


@pytest.mark.model
def test_a_text_model_refuses_images_saying_what_to_load(tmp_path):
    from tests.tiny_llama import save_tiny_llama
    from tests.tiny_vlm import vlm_tokenizer

    folder = save_tiny_llama(tmp_path / "llama", vlm_tokenizer(["hello"]))
    model = load_model(str(folder))
    with pytest.raises(InvalidInputError, match="text-only model; images are not supported"):
        model.generate(image_messages(photo()), GenerationParams(max_tokens=2))


def test_a_vision_folder_without_a_processor_is_corrupt(tiny_vlm, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(tiny_vlm / "config.json", broken / "config.json")
    with pytest.raises(CorruptModelError, match="no usable processor"):
        load_model(str(broken))


@pytest.mark.model
def test_a_qwen2_vl_folder_without_torchvision_says_what_to_install(tmp_path):
    """Qwen2-VL's processor needs torchvision, which PyPI has only as a CUDA build (one that does not
    load beside the CPU torch): the folder is refused naming the build to install."""
    import importlib.util

    from tests.tiny_vlm import save_tiny_qwen2_vl

    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed: Qwen2-VL's processor can be built")
    folder = save_tiny_qwen2_vl(tmp_path / "qwen2-vl", [USER_PROMPT])
    assert resolve(str(folder)).backend == "hf-vision"
    with pytest.raises(MissingDependencyError, match="requires the Torchvision library") as caught:
        load_model(str(folder))
    assert "torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu" in str(caught.value)
