"""Finding, loading and preparing the student for training (the torch/transformers/peft edge)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError, MissingDependencyError
from stillhouse.models.hf_loading import one_load_at_a_time
from stillhouse.train.config import TrainConfig

if TYPE_CHECKING:
    import torch


def resolve_student(student: str) -> Path:
    """A local transformers directory as is, else a catalog name or ``.gguf`` file, converted once
    (the model registry resolves it)."""
    path = Path(student).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidInputError(
                f"{student!r} has no config.json; not a transformers model", field="student"
            )
        return path
    try:
        from stillhouse.models.registry import resolve
    except ImportError as exc:  # the registry ships with the package; this guards a broken install
        raise MissingDependencyError(f"the model registry is unavailable: {exc}", field="student") from exc
    folder = resolve(f"hf:{student}").path
    assert folder is not None  # a resolved hf model always names its folder
    return folder


def load_tokenizer(student_dir: Path) -> Any:
    """The student's (fast) tokenizer; offsets are needed to place assistant-only labels."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(student_dir)
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError("the student needs a fast tokenizer (tokenizer.json)", field="student")
    return tokenizer


def pad_id(tokenizer: Any) -> int:
    """Token used for padding (its positions are masked, so any id works; eos when no pad).
    A vision student's processor pads with its tokenizer's."""
    tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def context_length(student_dir: Path) -> int:
    """The student's context window from its config (``max_position_embeddings``)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(student_dir)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    return int(getattr(text_config, "max_position_embeddings", 2048) or 2048)


def prefer_passive_openmp() -> None:
    """Let idle OpenMP threads sleep instead of spinning, in a process that only trains.

    On a shared CPU, spinning threads burn the cores their descheduled peers need, so a training
    step under load costs many times its CPU with ``OMP_WAIT_POLICY=PASSIVE``; on a quiet machine
    the two are even. But llama.cpp shares the process's OpenMP runtime and decodes token by token,
    and there PASSIVE makes every answer slower (figures for both in benchmarks/README.md). So only the
    training CLI calls this, never the library; it acts before OpenMP starts and a user's value wins.
    """
    if "torch" not in sys.modules and "llama_cpp" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cpu_threads(requested: int | None) -> int:
    """Threads for torch: as asked, else the cores this process may run on."""
    if requested:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def build_model(student_dir: Path, config: TrainConfig) -> Any:
    """Load the student in float32 and wrap it in LoRA unless full fine-tuning was asked for; a
    vision-language student trains its language model only (:mod:`stillhouse.train.vision`)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from stillhouse.train import vision

    images = vision.is_vision_student(student_dir)
    auto = AutoModelForImageTextToText if images else AutoModelForCausalLM
    with one_load_at_a_time():
        model = auto.from_pretrained(student_dir, dtype=torch.float32)
    model.config.use_cache = False  # no KV cache while training: it only costs memory
    if config.method == "full":
        if images:
            vision.freeze_vision(model)
        return model
    from peft import LoraConfig, get_peft_model

    if images:
        targets: Any = vision.language_lora_targets(model, config.lora_targets)
    else:
        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        targets = [t for t in config.lora_targets if t in present]
    if not targets:
        raise InvalidInputError(
            f"none of the LoRA targets {list(config.lora_targets)} exist in this model", field="lora_targets"
        )
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def trainable_parameters(model: Any) -> dict[str, torch.Tensor]:
    """Named parameters the optimizer updates (the adapter for LoRA, everything for full)."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}
