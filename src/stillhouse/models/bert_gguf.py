"""A BERT sentence encoder (all-MiniLM-L6-v2) as a GGUF, so llama.cpp can embed with it.

The fast router embeds one query per request; through sentence-transformers and torch that costs
more than the router's whole latency budget on a small CPU. llama.cpp runs the same BERT graph with
mean pooling in C. This module writes the GGUF llama.cpp needs from the packaged
sentence-transformers folder, locally (no download), as llama.cpp's own ``convert_hf_to_gguf.py``
does for BERT: the WordPiece vocabulary in its "phantom space" form (a word-initial piece gets a
leading ``▁``, a ``##`` continuation loses its marks), the special tokens, mean pooling, and the
tensors renamed with gguf's BERT name map. Weight matrices go to f16; vectors and the tables added to the input stay f32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from stillhouse.errors import InvalidInputError

_SPECIALS = {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]"}
# Tables added to the token embeddings rather than multiplied: llama.cpp adds them only in f32.
_ADDED_TO_INPUT = ("position_embd.", "token_types.")
_UNUSED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def phantom_vocab(tokens: list[str], specials: set[str]) -> list[str]:
    """WordPiece tokens as llama.cpp's WPM tokenizer stores them. Pure."""
    return [t if t in specials else t[2:] if t.startswith("##") else "\u2581" + t for t in tokens]


def _read_config(folder: Path) -> dict[str, Any]:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert" or config.get("position_embedding_type", "absolute") != "absolute":
        raise InvalidInputError(f"{folder} is not a BERT model with absolute positions", field="embedder")
    tokenizer = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    if not tokenizer.get("do_lower_case", False):
        raise InvalidInputError("only uncased BERT vocabularies are supported", field="embedder")
    return config


def _pooling(folder: Path) -> Any:
    import gguf

    pooling_file = folder / "1_Pooling" / "config.json"
    pooling = json.loads(pooling_file.read_text(encoding="utf-8")) if pooling_file.is_file() else {}
    if pooling.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if pooling and not pooling.get("pooling_mode_mean_tokens"):
        raise InvalidInputError("only mean or CLS pooling is supported", field="embedder")
    return gguf.PoolingType.MEAN


def _add_metadata(writer: Any, config: dict[str, Any], folder: Path) -> None:
    import gguf

    writer.add_name(folder.name)
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(int(config["hidden_size"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_head_count(int(config["num_attention_heads"]))
    writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(_pooling(folder))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens = (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()
    specials = set(_SPECIALS.values())
    control, normal = gguf.TokenType.CONTROL, gguf.TokenType.NORMAL
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(phantom_vocab(tokens, specials))
    writer.add_token_types([control if t in specials else normal for t in tokens])
    writer.add_token_type_count(int(config.get("type_vocab_size", 2)))
    ids = {name: tokens.index(text) for name, text in _SPECIALS.items()}
    writer.add_bos_token_id(ids["cls"])  # llama.cpp frames a WPM input as [CLS] … [SEP]
    writer.add_eos_token_id(ids["sep"])
    writer.add_unk_token_id(ids["unk"])
    writer.add_sep_token_id(ids["sep"])
    writer.add_pad_token_id(ids["pad"])
    writer.add_mask_token_id(ids["mask"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)


def _add_tensors(writer: Any, folder: Path, n_layers: int) -> None:
    import gguf
    from safetensors.numpy import load_file

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    for hf_name, data in load_file(str(folder / "model.safetensors")).items():
        hf_name = hf_name.removeprefix("bert.")
        if hf_name in _UNUSED:
            continue
        base, _, suffix = hf_name.rpartition(".")
        mapped = names.get_name(base)
        if mapped is None:
            raise InvalidInputError(f"no GGUF name for BERT tensor {hf_name!r}", field="embedder")
        name = f"{mapped}.{suffix}"
        half = data.ndim == 2 and not name.startswith(_ADDED_TO_INPUT)
        writer.add_tensor(name, data.astype(np.float16 if half else np.float32))


def export_bert_gguf(folder: Path, out_path: Path) -> Path:
    """Write the sentence-transformers BERT in ``folder`` as a GGUF at ``out_path`` (atomically)."""
    import gguf

    from stillhouse.models.gguf_export import write_gguf

    folder = Path(folder)
    config = _read_config(folder)

    def fill(writer: Any) -> None:
        _add_metadata(writer, config, folder)
        _add_tensors(writer, folder, int(config["num_hidden_layers"]))

    return write_gguf(out_path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT], fill)
