"""Publishing a trained student: the one place a custom model's serving folder is made.

The folder holds the merged transformers model as training exported it (with its ``stillhouse.json``
manifest when it was trained in a task's student format) and, when the base model came as a GGUF,
``model.gguf``: the same weights written over the base's GGUF metadata (tokenizer and chat
template byte-identical), so the model registry serves the folder with llama.cpp, the fast path,
wherever it is loaded (the demo, a customization job's custom model, ``stillhouse serve``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse.models.gguf_export import WeightType


class PublishConfig(BaseModel):
    """What a published student is exported from: the base model's spec (its GGUF is the export's
    template) and the GGUF weight type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: str
    weight_type: WeightType = "q8_0"


def publish_student(model_dir: Path, target: Path, config: PublishConfig) -> Path:
    """Publish the merged model in ``model_dir`` as ``target`` (replaced whole); returns ``target``.

    A base model with no GGUF (a plain transformers folder) is published without ``model.gguf``
    and is then served by transformers: there is no template to carry its tokenizer over. So is an
    unmerged LoRA adapter (no ``config.json``): llama.cpp needs the full weights.
    """
    from stillhouse.models.registry import SERVING_GGUF

    template = base_gguf(config.base) if (model_dir / "config.json").is_file() else None
    staging = target.with_name(target.name + ".publishing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging, ignore=shutil.ignore_patterns(SERVING_GGUF))
    if template is not None:
        from stillhouse.models.gguf_export import export_gguf

        export_gguf(model_dir, template, staging / SERVING_GGUF, weight_type=config.weight_type)
    # Complete before it is visible: a reader never loads a half-copied folder (and a rerun repeats it).
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    return target


def base_gguf(base: str) -> Path | None:
    """The GGUF file the base model ``base`` is served from, or ``None`` when it has none."""
    from stillhouse.models.registry import resolve

    resolved = resolve(base)
    return resolved.path if resolved.backend == "llamacpp" else None
