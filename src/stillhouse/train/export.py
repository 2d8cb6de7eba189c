"""Save the trained student as a directory ``transformers`` loads as it is.

- full fine-tuning: the weights and tokenizer in ``OUT/model``.
- LoRA, merged (default): the adapter folded into the weights in ``OUT/model``, and the adapter
  itself kept beside them in ``OUT/model/adapter`` (small, reusable on the same base).
- LoRA, not merged: ``OUT/model`` holds the adapter and tokenizer; its ``adapter_config.json``
  names the local base directory, which ``AutoModelForCausalLM.from_pretrained`` follows (it must stay
  where it is).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from stillhouse.train.hparams import Method

MODEL_DIR = "model"
ADAPTER_DIR = "adapter"


def export_model(
    model: Any, tokenizer: Any, out: Path, *, method: Method, merge: bool
) -> tuple[Path, Path | None]:
    """Write the model (and adapter) under ``out``; returns ``(model_dir, adapter_dir or None)``.

    Merging modifies ``model`` in place, so this is the last thing a run does with it.
    """
    model_dir = Path(out) / MODEL_DIR
    tmp = Path(out) / f".{MODEL_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    adapter_dir: Path | None = None
    if method == "full":
        model.save_pretrained(tmp)
    elif merge:
        model.save_pretrained(tmp / ADAPTER_DIR)
        tokenizer.save_pretrained(tmp / ADAPTER_DIR)
        model.merge_and_unload().save_pretrained(tmp)
        adapter_dir = model_dir / ADAPTER_DIR
    else:
        model.save_pretrained(tmp)
        adapter_dir = model_dir
    tokenizer.save_pretrained(tmp)
    _write_generation_config(model, tmp)
    shutil.rmtree(model_dir, ignore_errors=True)
    tmp.rename(model_dir)
    return model_dir, adapter_dir


def _write_generation_config(model: Any, folder: Path) -> None:
    """Keep the base model's generation defaults (eos ids) so ``generate`` stops where it should."""
    config = getattr(model, "generation_config", None)
    if config is not None and not (folder / "generation_config.json").exists():
        config.save_pretrained(folder)
