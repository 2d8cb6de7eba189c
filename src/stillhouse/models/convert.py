"""GGUF → fp32 safetensors, so a packaged GGUF can be fine-tuned with transformers.

transformers de-quantizes a GGUF on every load, which is slow; saving the result once as safetensors
makes every later load a plain read (figures in benchmarks/README.md). transformers 5 refuses ``save_pretrained()`` on a model it loaded from a GGUF
(it looks quantized), so the quantizer marker is cleared first: the weights are plain fp32 by then.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from stillhouse.errors import CorruptModelError, MissingDependencyError
from stillhouse.models.hf_loading import one_load_at_a_time

_DONE = ".stillhouse-converted.json"


def is_converted(out_dir: Path) -> bool:
    """True when ``out_dir`` holds a finished conversion (the marker is written last)."""
    return (out_dir / _DONE).is_file() and (out_dir / "config.json").is_file()


def _load_from_gguf(gguf: Path):  # -> (PreTrainedModel, PreTrainedTokenizerBase)
    """De-quantize ``gguf`` into an fp32 transformers model and its tokenizer."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"converting a GGUF needs the train extra: pip install 'stillhouse[train]' ({exc})"
        ) from exc
    try:
        with one_load_at_a_time():
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    except ImportError as exc:
        raise MissingDependencyError(
            f"reading GGUF files needs gguf: pip install gguf==0.19.0 ({exc})"
        ) from exc
    except (ValueError, OSError, KeyError) as exc:
        raise CorruptModelError(f"transformers cannot load {gguf}: {exc}") from exc
    return model, tokenizer


def convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Write ``gguf`` as an fp32 safetensors folder at ``out_dir`` (atomically: tmp folder + rename)."""
    started = time.perf_counter()
    model, tokenizer = _load_from_gguf(gguf)
    # The weights are de-quantized already; these markers only make save_pretrained() refuse.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        info = {"source": str(gguf), "seconds": round(time.perf_counter() - started, 1)}
        (tmp / _DONE).write_text(json.dumps(info))
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; converted weights are not secret
        if is_converted(out_dir):  # another process finished first: keep its copy
            return out_dir
        if out_dir.exists():  # a half-written folder from an interrupted run (no marker)
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir
