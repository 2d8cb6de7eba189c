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


def save_tiny_llama(folder: Path, tokenizer: Any, *, max_positions: int = 128, seed: int = 0) -> Path:
    """Save a seeded random Llama sized to ``tokenizer`` (a ``PreTrainedTokenizerFast``) and the
    tokenizer itself in ``folder``; the special-token ids come from the tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=tokenizer.backend_tokenizer.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
