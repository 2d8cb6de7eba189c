"""The one tiny random-weight Llama of the model-tier tests: 2 layers, hidden 32, built in seconds.

Each test folder brings the tokenizer its data needs (a fixed word vocabulary, a trained one, or
byte-level BPE that can encode any answer); the model around it is the same everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# A ChatML-style template: the same turn markers as SmolLM2 and Qwen, with no default system prompt.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chatml_tokenizer(core: Any, *, unk_token: str | None = "<unk>") -> Any:
    """``core`` (a ``tokenizers.Tokenizer`` that holds ``<pad>`` and the ChatML turn markers) as a
    ``PreTrainedTokenizerFast`` with :data:`CHAT_TEMPLATE`; byte-level BPE needs no ``unk_token``."""
    from transformers import PreTrainedTokenizerFast

    unknown = {"unk_token": unk_token} if unk_token else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        chat_template=CHAT_TEMPLATE,
        **unknown,
    )


def llama_dims(tokenizer: Any, max_positions: int, vocab_size: int | None = None) -> dict[str, Any]:
    """The tiny Llama's sizes and special-token ids (the text model of tests/tiny_vlm.py's too);
    ``vocab_size`` defaults to the tokenizer's backend vocabulary."""
    return dict(
        vocab_size=vocab_size or tokenizer.backend_tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )


def save_tiny_llama(folder: Path, tokenizer: Any, *, max_positions: int = 128, seed: int = 0) -> Path:
    """Save a seeded random Llama sized to ``tokenizer`` (a ``PreTrainedTokenizerFast``) and the
    tokenizer itself in ``folder``; the special-token ids come from the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(**llama_dims(tokenizer, max_positions), tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


WORD_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def save_word_llama(folder: Path, words: list[str], template: str = WORD_TEMPLATE) -> Path:
    """A 2-layer random Llama with a word-level tokenizer over ``words`` and a chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
    vocab = {tok: i for i, tok in enumerate(specials + words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        unk_token="<unk>",
        additional_special_tokens=specials[3:],
    )
    tokenizer.chat_template = template
    return save_tiny_llama(folder, tokenizer)


def write_tiny_gguf(folder: Path, chat_template: str = CHAT_TEMPLATE) -> Path:
    """``folder/model.gguf``: the tiny Llama saved in ``folder`` as a GGUF that llama.cpp loads (its
    vocabulary, added tokens included, written as a merge-less BPE one, so words it knows are
    single tokens), with ``chat_template``.

    The packaged GGUFs are what real students start from; this gives the model-tier tests a base
    model with a GGUF of its own, seconds to write, so that a published student gets ``model.gguf``.
    """
    import json

    from stillhouse.models.gguf_export import _load_state_dict, export_gguf, write_gguf

    config = json.loads((folder / "config.json").read_text())
    saved = json.loads((folder / "tokenizer.json").read_text())
    by_id = {i: token for token, i in saved["model"]["vocab"].items()}
    by_id.update({added["id"]: added["content"] for added in saved["added_tokens"]})
    tokens = [by_id[i] for i in range(len(by_id))]
    state = _load_state_dict(folder)

    def fill(writer: Any) -> None:
        writer.add_context_length(config["max_position_embeddings"])
        writer.add_embedding_length(config["hidden_size"])
        writer.add_block_count(config["num_hidden_layers"])
        writer.add_feed_forward_length(config["intermediate_size"])
        writer.add_head_count(config["num_attention_heads"])
        writer.add_head_count_kv(config["num_key_value_heads"])
        writer.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
        writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("default")
        writer.add_token_list(tokens)
        writer.add_token_types([3 if token.startswith("<") else 1 for token in tokens])
        writer.add_token_merges(["a b"])  # llama.cpp refuses a BPE vocabulary with no merges key
        writer.add_bos_token_id(config["bos_token_id"])
        writer.add_eos_token_id(config["eos_token_id"])
        writer.add_pad_token_id(config["pad_token_id"])
        writer.add_chat_template(chat_template)
        for name, shape in _gguf_shapes(state, config["num_hidden_layers"]).items():
            writer.add_tensor(name, np.zeros(shape, dtype=np.float32))

    import numpy as np

    template = write_gguf(folder / "template.gguf", "llama", fill)
    out = export_gguf(folder, template, folder / "model.gguf", weight_type="f32")
    template.unlink()
    return out


def _gguf_shapes(state: dict[str, Any], n_layers: int) -> dict[str, tuple[int, ...]]:
    from stillhouse.models.gguf_export import _hf_to_gguf_names

    names = _hf_to_gguf_names(list(state), "llama", n_layers)
    return {gguf_name: tuple(state[hf_name].shape) for hf_name, gguf_name in names.items()}
