"""The tiny random-weight vision-language models of the model-tier tests: a LLaVA with a one-layer
CLIP vision tower (32 px images, 16 image tokens), an Idefics3 (SmolVLM), a Qwen2-VL and a
Qwen2.5-VL, each on the 2-layer Llama-sized text model of tests/tiny_llama.py, with a word-level
tokenizer and processor files built offline, saved in seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_llama import chatml_tokenizer, llama_dims

IMAGE_TOKEN = "<image>"
SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", IMAGE_TOKEN]
# ChatML with content parts: an image part writes the placeholder the processor expands.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
IMAGE_SIZE, PATCH_SIZE = 32, 8
# The one-layer vision tower of both models (CLIP's and SigLIP's configs take the same sizes).
VISION: dict[str, int] = dict(
    hidden_size=16,
    intermediate_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    image_size=IMAGE_SIZE,
    patch_size=PATCH_SIZE,
)


def vlm_tokenizer(texts: list[str]) -> Any:
    """A word-level tokenizer over the words of ``texts`` (and the role names), ChatML specials."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    splitter = pre_tokenizers.Whitespace()
    words = sorted(
        {w for text in [*texts, "system user assistant"] for w, _ in splitter.pre_tokenize_str(text)}
    )
    vocab = {token: i for i, token in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = splitter
    core.add_special_tokens(SPECIALS)
    tokenizer = chatml_tokenizer(core)
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def save_tiny_vlm(folder: Path, texts: list[str], *, max_positions: int = 512, seed: int = 0) -> Path:
    """Save a seeded random tiny LLaVA, its processor and tokenizer in ``folder``."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = vlm_tokenizer(texts)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="default",
        chat_template=CHAT_TEMPLATE,
        image_token=IMAGE_TOKEN,
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
    )
    vision = CLIPVisionConfig(**VISION, projection_dim=16)
    text = LlamaConfig(**llama_dims(tokenizer, max_positions), tie_word_embeddings=False)
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def save_tiny_idefics3(folder: Path, texts: list[str], *, seed: int = 0) -> Path:
    """Save a seeded random tiny Idefics3 (the SmolVLM family): a one-layer SigLIP tower on 32 px
    images, pixel shuffle to 4 image tokens, the same 2-layer Llama and tokenizer."""
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    tokenizer = vlm_tokenizer(texts)
    tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<fake_token_around_image>", "<global-img>", "<end_of_utterance>"]}
    )
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": 2 * IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
        do_image_splitting=False,
    )
    processor = Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE, image_seq_len=4
    )
    # The special tokens added above are past the backend's vocabulary: size the model to them all.
    text = dict(model_type="llama", **llama_dims(tokenizer, 512, vocab_size=len(tokenizer)))
    config = Idefics3Config(
        text_config=text,
        vision_config=VISION,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        scale_factor=2,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# byte-level BPE's "\n" and "\n\n": llama.cpp lays an Idefics3 image out between them, so a folder
# written as GGUF needs them among its texts' words.
GGUF_NEWLINES = "\u010a \u010a\u010a"


def write_tiny_idefics3_gguf(folder: Path, out: Path) -> tuple[Path, Path]:
    """(``out/model.gguf``, ``out/mmproj.gguf``): the tiny Idefics3 saved in ``folder`` as llama.cpp
    serves a SmolVLM, its Llama as a GGUF and its vision tower and connector as an ``mmproj``.

    The mmproj holds the keys and tensors llama.cpp's ``convert_hf_to_gguf.py --mmproj`` writes
    for this folder (it ships only in llama-cpp-python's sdist, so the tests write it here); the
    Llama goes through tests/tiny_llama.py's writer, since the converter's text path does not
    read a word-level vocabulary.
    """
    import json
    import shutil

    from safetensors.numpy import save_file
    from tests.tiny_llama import write_tiny_gguf

    from stillhouse.models.gguf_export import _load_state_dict

    config = json.loads((folder / "config.json").read_text())
    state = _load_state_dict(folder)
    text = out / "text"
    text.mkdir(parents=True, exist_ok=True)
    (text / "config.json").write_text(json.dumps(config["text_config"]))
    shutil.copy(folder / "tokenizer.json", text / "tokenizer.json")
    prefix = "model.text_model."
    weights = {k.replace(prefix, "model."): v for k, v in state.items() if k.startswith(prefix)}
    save_file({**weights, "lm_head.weight": state["lm_head.weight"]}, str(text / "model.safetensors"))
    model = write_tiny_gguf(text, chat_template=CHAT_TEMPLATE).replace(out / "model.gguf")
    shutil.rmtree(text)
    return model, _write_idefics3_mmproj(folder, config, state, out / "mmproj.gguf")


def _write_idefics3_mmproj(folder: Path, config: dict[str, Any], state: dict[str, Any], path: Path) -> Path:
    import json

    import gguf

    from stillhouse.models.gguf_export import write_gguf

    vision = config["vision_config"]
    preprocessor = json.loads((folder / "processor_config.json").read_text())["image_processor"]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.MMPROJ, vision["num_hidden_layers"])

    def fill(writer: Any) -> None:
        writer.add_type(gguf.GGUFType.MMPROJ)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_clip_has_vision_encoder(True)
        writer.add_vision_projection_dim(config["text_config"]["hidden_size"])
        writer.add_vision_image_size(vision["image_size"])
        writer.add_vision_patch_size(vision["patch_size"])
        writer.add_vision_embedding_length(vision["hidden_size"])
        writer.add_vision_feed_forward_length(vision["intermediate_size"])
        writer.add_vision_block_count(vision["num_hidden_layers"])
        writer.add_vision_head_count(vision["num_attention_heads"])
        writer.add_vision_image_mean(preprocessor["image_mean"])
        writer.add_vision_image_std(preprocessor["image_std"])
        writer.add_clip_projector_type(gguf.VisionProjectorType.IDEFICS3)
        writer.add_vision_attention_layernorm_eps(vision["layer_norm_eps"])
        writer.add_vision_projector_scale_factor(config["scale_factor"])
        writer.add_vision_use_gelu(True)
        writer.add_vision_preproc_image_size(preprocessor["size"]["longest_edge"])
        for hf_name, data in state.items():
            base, _, suffix = hf_name.rpartition(".")
            if (mapped := names.get_name(base)) is not None:
                writer.add_tensor(f"{mapped}.{suffix}", data)

    return write_gguf(path, "clip", fill)


QWEN2_VL_SPECIALS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN2_VL_IMAGE_TOKEN = "<|image_pad|>"
# 8 px patches merged 2 x 2 into one image token (both Qwen families' vision settings).
QWEN2_VL_MERGE = 2
# The vision towers of the two families, one layer each: Qwen2-VL's ``hidden_size`` and Qwen2.5-VL's
# ``out_hidden_size`` are the text model's width (what the merger projects to).
_QWEN_VISION: dict[str, dict[str, Any]] = {
    "qwen2_vl": dict(depth=1, embed_dim=16, hidden_size=32, num_heads=2),
    "qwen2_5_vl": dict(
        depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
        window_size=2 * PATCH_SIZE * QWEN2_VL_MERGE, fullatt_block_indexes=[0],
    ),
}  # fmt: skip


def save_tiny_qwen2_vl(
    folder: Path,
    texts: list[str],
    *,
    family: str = "qwen2_vl",
    min_pixels: int = IMAGE_SIZE * IMAGE_SIZE,
    max_pixels: int = IMAGE_SIZE * IMAGE_SIZE,
    seed: int = 0,
) -> Path:
    """Save a seeded random tiny Qwen2-VL (``family="qwen2_5_vl"``: Qwen2.5-VL) with a one-layer
    vision tower, the same 2-layer text model and tokenizer, and the files a Qwen2-VL checkpoint
    ships: ``preprocessor_config.json`` (min/max pixels, patch and merge size; by default every
    image is resized to 32 x 32: 16 patches, 4 image tokens), the tokenizer's files and its chat
    template. No processor is saved: without torchvision transformers cannot build one to save,
    and the folder's own files are what the backend reads."""
    import json

    import torch
    import transformers

    tokenizer = vlm_tokenizer(texts)
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN2_VL_SPECIALS})
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN2_VL_SPECIALS}
    # Multimodal rotary sections (time, height, width) over the 8-dim heads' 4 frequencies.
    rope = {"rope_type": "default", "mrope_section": [1, 1, 2], "rope_theta": 10000.0}
    names = {"qwen2_vl": "Qwen2VL", "qwen2_5_vl": "Qwen2_5_VL"}[family]
    config = getattr(transformers, f"{names}Config")(
        text_config={**llama_dims(tokenizer, 512, vocab_size=len(tokenizer)), "rope_parameters": rope},
        vision_config=dict(**_QWEN_VISION[family], patch_size=PATCH_SIZE, spatial_merge_size=QWEN2_VL_MERGE),
        image_token_id=ids[QWEN2_VL_IMAGE_TOKEN],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{names}ForConditionalGeneration")(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE.replace(
        "<image>", f"<|vision_start|>{QWEN2_VL_IMAGE_TOKEN}<|vision_end|>"
    )
    tokenizer.save_pretrained(folder)
    processor = {
        "processor_class": f"{names}Processor",
        "image_processor_type": "Qwen2VLImageProcessor",
        "patch_size": PATCH_SIZE,
        "temporal_patch_size": 2,
        "merge_size": QWEN2_VL_MERGE,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return folder
