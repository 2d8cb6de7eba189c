"""The transformers vision backend on a tiny random LLaVA built in the test: rendering with the
model's own chat template and image tokens, generation, and how the registry finds it."""

from __future__ import annotations

import io
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


QWEN_FAMILIES = ["qwen2_vl", "qwen2_5_vl"]


@pytest.fixture
def no_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    """As this venv is (torchvision absent), wherever the tests run."""
    monkeypatch.setattr("transformers.utils.is_torchvision_available", lambda: False)


def image_of(width: int, height: int) -> Image:
    """A photo resized to exactly ``width`` x ``height`` (PNG)."""
    from PIL import Image as PILImage

    picture = PILImage.open(io.BytesIO(photo_png("astronaut"))).resize((width, height))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return Image(format="png", data=buffer.getvalue())


@pytest.mark.model
@pytest.mark.parametrize("family", QWEN_FAMILIES)
def test_a_qwen2_vl_record_has_one_image_pad_per_merged_patch_of_its_grid(tmp_path, family, no_torchvision):
    """The folder's own preprocessor_config.json sizes the image (max_pixels 64 x 64: a 64 x 48
    image stays 64 x 48, a 4 x 3 grid of 2 x 2 merged 8 px patches), and the template's one
    image pad becomes grid_thw.prod() / merge^2 of them, between the vision markers."""
    from tests.tiny_vlm import QWEN2_VL_IMAGE_TOKEN, QWEN2_VL_MERGE, save_tiny_qwen2_vl

    from stillhouse.models.vision_processor import load_processor

    folder = save_tiny_qwen2_vl(tmp_path / family, [USER_PROMPT], family=family, max_pixels=64 * 64)
    processor = load_processor(folder)
    settings = processor.image_processor
    assert (settings.patch_size, settings.merge_size, settings.size["longest_edge"]) == (8, 2, 64 * 64)
    inputs = encode_with_processor(processor, image_messages(image_of(64, 48)), add_generation_prompt=True)
    assert inputs["image_grid_thw"].tolist() == [[1, 6, 8]]  # (time, height, width) in 8 px patches
    assert tuple(inputs["pixel_values"].shape) == (48, 3 * 2 * 8 * 8)  # 2 frames of a still image
    tokens = processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0].tolist())
    pads = 1 * 6 * 8 // QWEN2_VL_MERGE**2
    assert tokens.count(QWEN2_VL_IMAGE_TOKEN) == pads == 12
    start = tokens.index("<|vision_start|>")
    assert tokens[start + 1 : start + 1 + pads] == [QWEN2_VL_IMAGE_TOKEN] * pads
    assert tokens[start + 1 + pads : start + 3 + pads] == ["<|vision_end|>", "Extract"]
    assert tokens[:2] == ["<|im_start|>", "system"] and tokens[-2:] == ["<|im_start|>", "assistant"]
    # The image-token marks for the multimodal rotary positions cover exactly the pads.
    assert inputs["mm_token_type_ids"][0].tolist() == [int(t == QWEN2_VL_IMAGE_TOKEN) for t in tokens]


@pytest.mark.model
def test_a_qwen2_vl_folders_pixel_limits_are_its_own(tmp_path, no_torchvision):
    """The same 64 x 48 image in a folder capped at 32 x 32 pixels: scaled down, in whole merged
    patches (16 px), to 32 x 16, a 4 x 2 patch grid and 2 image tokens."""
    from tests.tiny_vlm import save_tiny_qwen2_vl

    from stillhouse.models.vision_processor import load_processor

    folder = save_tiny_qwen2_vl(tmp_path / "capped", [USER_PROMPT], min_pixels=16 * 16, max_pixels=32 * 32)
    processor = load_processor(folder)
    inputs = encode_with_processor(processor, image_messages(image_of(64, 48)), add_generation_prompt=True)
    assert inputs["image_grid_thw"].tolist() == [[1, 2, 4]]
    assert inputs["input_ids"][0].tolist().count(processor.image_token_id) == 2


@pytest.mark.model
@pytest.mark.parametrize("family", QWEN_FAMILIES)
def test_a_qwen2_vl_folder_loads_without_torchvision_and_generates(tmp_path, family, no_torchvision):
    from tests.tiny_vlm import save_tiny_qwen2_vl

    folder = save_tiny_qwen2_vl(tmp_path / family, [SYSTEM_PROMPT, USER_PROMPT], family=family)
    assert resolve(str(folder)).backend == "hf-vision"
    model = load_model(str(folder))
    assert getattr(model.processor, "video_processor", None) is None
    completion = model.generate(image_messages(photo("coffee")), GenerationParams(max_tokens=4))
    assert completion.output_tokens == 4 and completion.stop_reason == "max_tokens"
    assert completion.input_tokens == model._encode(image_messages(photo("coffee")))["input_ids"].shape[1]
    assert (
        model.generate(image_messages(photo("coffee")), GenerationParams(max_tokens=4)).text
        == completion.text
    )
    text_only = model.generate([Message(role="user", content=USER_PROMPT)], GenerationParams(max_tokens=2))
    assert text_only.output_tokens == 2


@pytest.mark.model
def test_a_qwen2_vl_folder_without_its_preprocessor_config_is_corrupt(tmp_path, no_torchvision):
    from tests.tiny_vlm import save_tiny_qwen2_vl

    folder = save_tiny_qwen2_vl(tmp_path / "qwen2-vl", [USER_PROMPT])
    (folder / "preprocessor_config.json").unlink()
    with pytest.raises(CorruptModelError, match="has no usable processor"):
        load_model(str(folder))


def test_a_processor_whose_video_part_needs_torchvision_says_videos_are_out_of_scope(monkeypatch, tmp_path):
    """A family stillhouse does not build without its video processor is refused, naming the
    torchvision build and saying images alone need none of it."""
    import transformers

    (tmp_path / "config.json").write_text('{"model_type": "qwen3_vl", "vision_config": {}}')

    def needs_torchvision(*args, **kwargs):
        raise ImportError(
            "\nQwen3VLVideoProcessor requires the Torchvision library but it was not found in your environment."
        )

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", needs_torchvision)
    with pytest.raises(
        MissingDependencyError, match="Qwen3VLVideoProcessor requires the Torchvision"
    ) as caught:
        load_model(str(tmp_path))
    said = str(caught.value)
    assert "torchvision==0.28.0 --index-url https://download.pytorch.org/whl/cpu" in said
    assert "videos are out of scope" in said and "for qwen2_5_vl and qwen2_vl alone" in said
