"""Training a tiny random LLaVA on image records through the one loop: assistant-only labels over
expanded image tokens, LoRA on the language model with the vision tower frozen, a loss that falls
over 8 steps on 16 photos, and a trained folder that reloads and generates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tests.photos import PHOTOS, photo_png
from tests.tiny_vlm import IMAGE_TOKEN, save_tiny_vlm

from stillhouse.chat import GenerationParams, Image, Message
from stillhouse.errors import DatasetError
from stillhouse.records.schema import from_messages
from stillhouse.tasks.image_keywords import image_messages
from stillhouse.tasks.image_keywords.prompt import SYSTEM_PROMPT, USER_PROMPT
from stillhouse.train import TrainConfig, run_training
from stillhouse.train.data import IGNORE_INDEX

pytestmark = pytest.mark.model

WORDS = [
    "person",
    "animal",
    "object",
    "outdoor",
    "indoor",
    "night",
    "day",
    "red",
    "blue",
    "green",
    "bright",
    "dark",
    "portrait",
    "close-up",
    "calm",
    "happy",
]
HPARAMS = {"epochCount": "1", "batchSize": "2", "learningRateWarmupSteps": "0", "learningRate": "1e-4"}
# Bedrock's learning rate tops out at 1e-4; a large LoRA alpha (scale alpha / r = 128) lets 8 steps
# move a random model's loss visibly.
LORA_ALPHA = 1024


def answer(i: int) -> str:
    return ", ".join(WORDS[(i + k) % len(WORDS)] for k in range(15))


def image_records(path: Path, n: int = 16) -> Path:
    lines = []
    for i, name in enumerate(PHOTOS[:n]):
        image = Image(format="png", data=photo_png(name, 48))
        messages = [*image_messages(image), Message(role="assistant", content=answer(i))]
        lines.append(from_messages(messages).to_json())
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [SYSTEM_PROMPT, USER_PROMPT, ", ".join(WORDS)]
    return save_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"), texts)


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return image_records(tmp_path_factory.mktemp("data") / "train.jsonl")


def test_labels_cover_the_answer_only_and_images_are_expanded(tiny_vlm, records_file):
    from stillhouse.train.data import training_records
    from stillhouse.train.vision import encode_image_record, load_processor

    processor = load_processor(tiny_vlm)
    record = training_records(records_file, images=True)[0]
    example = encode_image_record(record, processor)
    tokens = processor.tokenizer.convert_ids_to_tokens(example.input_ids)
    assert tokens.count(IMAGE_TOKEN) == 16 and tuple(example.extras["pixel_values"].shape) == (1, 3, 32, 32)
    learned = processor.tokenizer.convert_ids_to_tokens([t for t in example.labels if t != IGNORE_INDEX])
    # The answer and the end-of-turn marker (the model learns to stop); the word-level tokenizer
    # has no token for the template's newline.
    assert learned == [*processor.tokenizer.tokenize(answer(0)), "<|im_end|>"]


def test_a_text_student_refuses_image_records(tmp_path, records_file):
    from tests.tiny_llama import save_tiny_llama
    from tests.tiny_vlm import vlm_tokenizer

    text_student = save_tiny_llama(tmp_path / "llama", vlm_tokenizer([SYSTEM_PROMPT]))
    config = TrainConfig(student=str(text_student), data=records_file, out=tmp_path / "out", progress=False)
    with pytest.raises(DatasetError, match="record 1 has images; text students cannot train on them"):
        run_training(config)


def test_lora_on_sixteen_photos_lowers_the_loss_and_the_folder_reloads(tiny_vlm, records_file, tmp_path):
    import torch
    from safetensors.torch import load_file

    from stillhouse.models.registry import load_model

    before = load_file(next(tiny_vlm.glob("*.safetensors")))
    config = TrainConfig(
        student=str(tiny_vlm),
        data=records_file,
        out=tmp_path / "run",
        hyperparameters=HPARAMS,
        max_steps=8,
        lora_alpha=LORA_ALPHA,
        task="image-keywords",
        progress=False,
        threads=2,
    )
    result = run_training(config)
    with open(result.metrics_csv, newline="") as handle:
        losses = [float(row["training_loss"]) for row in csv.DictReader(handle)]
    assert result.steps == 8 and len(losses) == 8 and result.records == 16
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.1, losses
    adapter = json.loads((result.model_dir / "adapter" / "adapter_config.json").read_text())
    assert "vision_tower" in adapter["target_modules"]  # named only to be excluded
    after = load_file(next(result.model_dir.glob("*.safetensors")))
    vision = [k for k in before if "vision_tower" in k]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in before if "language_model" in k)
    model = load_model(str(result.model_dir))
    photo = Image(format="png", data=photo_png("astronaut", 48))
    completion = model.generate(image_messages(photo), GenerationParams(max_tokens=8))
    assert completion.output_tokens >= 1 and completion.text


def test_an_idefics3_student_trains_its_language_model_only(tmp_path):
    import torch
    from safetensors.torch import load_file
    from tests.tiny_vlm import save_tiny_idefics3

    student = save_tiny_idefics3(tmp_path / "idefics3", [SYSTEM_PROMPT, USER_PROMPT, ", ".join(WORDS)])
    data = image_records(tmp_path / "train.jsonl", 8)
    config = TrainConfig(
        student=str(student),
        data=data,
        out=tmp_path / "run",
        hyperparameters=HPARAMS,
        max_steps=2,
        lora_alpha=LORA_ALPHA,
        progress=False,
        threads=2,
    )
    result = run_training(config)
    assert result.steps == 2
    before = load_file(next(student.glob("*.safetensors")))
    after = load_file(next(result.model_dir.glob("*.safetensors")))
    vision = [k for k in before if "vision_model" in k]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in before if "text_model" in k)


def test_a_qwen2_vl_student_learns_on_sixteen_photos_and_its_folder_reloads(tmp_path, records_file):
    """Qwen2-VL through the one loop, without torchvision: each example's image pads (one per
    merged patch of its grid) and their per-token marks ride in the batch, padded with the ids;
    LoRA lowers the loss with the vision tower ("visual") frozen; the folder reloads and generates."""
    import torch
    from safetensors.torch import load_file
    from tests.tiny_vlm import QWEN2_VL_IMAGE_TOKEN, QWEN2_VL_MERGE, save_tiny_qwen2_vl

    from stillhouse.models.registry import load_model
    from stillhouse.train.data import collate, training_records
    from stillhouse.train.vision import encode_image_record, load_processor

    student = save_tiny_qwen2_vl(tmp_path / "qwen2-vl", [SYSTEM_PROMPT, USER_PROMPT, ", ".join(WORDS)])
    processor = load_processor(student)
    records = training_records(records_file, images=True)
    examples = [encode_image_record(record, processor) for record in records[:2]]
    pads = [int(e.extras["image_grid_thw"].prod()) // QWEN2_VL_MERGE**2 for e in examples]
    for example, count in zip(examples, pads, strict=True):
        tokens = processor.tokenizer.convert_ids_to_tokens(example.input_ids)
        assert tokens.count(QWEN2_VL_IMAGE_TOKEN) == count
        assert example.token_extras["mm_token_type_ids"] == [int(t == QWEN2_VL_IMAGE_TOKEN) for t in tokens]
    learned = processor.tokenizer.convert_ids_to_tokens([t for t in examples[0].labels if t != IGNORE_INDEX])
    assert learned == [*processor.tokenizer.tokenize(answer(0)), "<|im_end|>"]
    assert len(examples[0].input_ids) != len(examples[1].input_ids)  # answers of different lengths
    batch = collate(examples, pad_id=0)
    marks = batch["extras"]["mm_token_type_ids"]
    assert marks.shape == batch["input_ids"].shape and marks.sum(dim=1).tolist() == pads
    short = min(range(2), key=lambda row: len(examples[row].input_ids))
    assert marks[short, len(examples[short].input_ids) :].tolist() == [0] * (
        marks.shape[1] - len(examples[short].input_ids)
    )
    assert batch["extras"]["image_grid_thw"].shape == (2, 3)

    before = load_file(next(student.glob("*.safetensors")))
    config = TrainConfig(
        student=str(student),
        data=records_file,
        out=tmp_path / "run",
        hyperparameters=HPARAMS,
        max_steps=8,
        lora_alpha=LORA_ALPHA,
        progress=False,
        threads=2,
    )
    result = run_training(config)
    with open(result.metrics_csv, newline="") as handle:
        losses = [float(row["training_loss"]) for row in csv.DictReader(handle)]
    assert result.steps == 8 and len(losses) == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.1, losses
    after = load_file(next(result.model_dir.glob("*.safetensors")))
    # Saved in Qwen2-VL checkpoints' own layout: visual.* and the language model's model.layers.*
    vision = [k for k in before if k.startswith("visual.")]
    assert vision and all(torch.equal(before[k], after[k]) for k in vision)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("model.layers."))
    model = load_model(str(result.model_dir))
    photo = Image(format="png", data=photo_png("astronaut", 48))
    completion = model.generate(image_messages(photo), GenerationParams(max_tokens=8))
    assert completion.output_tokens >= 1 and completion.text
