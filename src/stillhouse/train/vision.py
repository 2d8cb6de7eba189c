"""Training a vision-language student on image records through the one loop: encoding with the
student's processor, and which weights LoRA (or full fine-tuning) may touch.

The processor expands each image into the model's image tokens, so character offsets (what
:mod:`stillhouse.train.data` places text labels by) do not survive; assistant tokens are located
instead as the token difference between a conversation rendered up to a turn with the generation
prompt and rendered through the turn, exactly as the text path does with characters. The vision
tower stays frozen: LoRA goes on the language model's layers only, full fine-tuning leaves the
vision weights as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stillhouse.chat import Message
from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord, to_messages
from stillhouse.train.data import IGNORE_INDEX, Example

# Module-name fragments of the vision side of the supported families (LLaVA's vision_tower,
# Idefics3/SmolVLM's vision_model, Qwen2-VL's visual): never trained.
VISION_MODULES = ("vision_tower", "vision_model", "visual")


def is_vision_student(student_dir: Path) -> bool:
    from stillhouse.models.hf_vision import is_vision_folder

    return is_vision_folder(student_dir)


def load_processor(student_dir: Path) -> Any:
    """The student's processor (tokenizer, image processor and chat template), as serving builds it."""
    from stillhouse.models.vision_processor import load_processor as folder_processor

    processor = folder_processor(student_dir)
    if getattr(processor, "image_processor", None) is None or not getattr(processor, "chat_template", None):
        raise InvalidInputError(
            f"{student_dir}'s processor needs an image processor and a chat template", field="student"
        )
    return processor


def _ids(
    processor: Any, messages: list[Message], generation_prompt: bool
) -> tuple[list[int], dict[str, Any], dict[str, list[int]]]:
    """(token ids, the per-image inputs, the per-token inputs) of a conversation."""
    from stillhouse.models.hf_vision import encode_with_processor

    inputs = encode_with_processor(processor, messages, add_generation_prompt=generation_prompt)
    ids = inputs.pop("input_ids")
    inputs.pop("attention_mask", None)
    # An input shaped like the ids has a value per token (Qwen2-VL's mm_token_type_ids mark its
    # image tokens for the multimodal rotary positions): it is cut and padded with the ids.
    per_token = {k: v[0].tolist() for k, v in inputs.items() if tuple(v.shape) == tuple(ids.shape)}
    per_image = {k: v for k, v in inputs.items() if k not in per_token}
    return ids[0].tolist(), per_image, per_token


def encode_image_record(record: ConversationRecord, processor: Any) -> Example:
    """One record (images inline) as token ids with assistant-only labels and its image inputs."""
    messages = to_messages(record, include_answer=True)
    ids, extras, token_extras = _ids(processor, messages, False)
    labels = [IGNORE_INDEX] * len(ids)
    for i, message in enumerate(messages):
        if message.role != "assistant":
            continue
        before = _ids(processor, messages[:i], True)[0]
        through = _ids(processor, messages[: i + 1], False)[0]
        if ids[: len(through)] != through or through[: len(before)] != before:
            raise InvalidInputError(
                "the student's chat template does not render conversations incrementally; "
                "cannot locate the assistant tokens",
                field="student",
            )
        labels[len(before) : len(through)] = through[len(before) :]
    return Example(ids, labels, extras=extras, token_extras=token_extras)


def encode_image_records(records: Sequence[ConversationRecord], processor: Any) -> list[Example]:
    return [encode_image_record(record, processor) for record in records]


def language_lora_targets(model: Any, targets: Sequence[str]) -> str | None:
    """A PEFT ``target_modules`` pattern for ``targets`` outside the vision modules (``None`` when
    the language model has none of them)."""
    import re

    names = [name for name, _ in model.named_modules()]
    language = [n for n in names if not any(part in VISION_MODULES for part in n.split("."))]
    present = sorted({n.rsplit(".", 1)[-1] for n in language} & set(targets))
    if not present:
        return None
    vision = "|".join(VISION_MODULES)
    return rf"^(?!(?:.*\.)?(?:{vision})\.).*\.(?:{'|'.join(map(re.escape, present))})$"


def freeze_vision(model: Any) -> None:
    """Full fine-tuning of a vision student trains its language side only."""
    for name, parameter in model.named_parameters():
        if any(part in VISION_MODULES for part in name.split(".")):
            parameter.requires_grad_(False)
