"""Export a fine-tuned transformers model back to GGUF so llama.cpp can serve it.

The student starts life as a GGUF (the packaged SmolLM2/Qwen files), is de-quantized by transformers
for training, and must go back to GGUF for fast CPU inference. Rather than re-deriving tokenizer and
hyperparameter metadata from the HF files, we copy every metadata key of the *original* GGUF (the
template) and replace only the tensors, which keeps the tokenizer and chat template byte-identical.
Only tensors present in the template are written, so tied embeddings stay tied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from stillhouse.errors import InvalidInputError

WeightType = Literal["f32", "f16", "q8_0"]

# Architectures whose q/k projections llama.cpp stores in a permuted (interleaved rotary) layout.
_PERMUTED_ARCHS = {"llama"}
OUTPUT_TENSOR = "output.weight"  # the vocabulary head; absent from a GGUF whose embeddings are tied


def _permute_qk(weights: np.ndarray, n_head: int) -> np.ndarray:
    """HF rotary layout -> llama.cpp layout (the inverse of transformers' reverse permute)."""
    shape = weights.shape
    return weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:]).swapaxes(1, 2).reshape(shape)


def _field_value(reader: Any, key: str) -> Any:
    field = reader.get_field(key)
    return None if field is None else field.contents()


def _hf_to_gguf_names(state_dict_keys: list[str], arch_name: str, n_layers: int) -> dict[str, str]:
    import gguf

    arch = next((k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch_name), None)
    if arch is None:
        raise InvalidInputError(f"GGUF export does not know architecture {arch_name!r}", field="model")
    name_map = gguf.get_tensor_name_map(arch, n_layers)
    out: dict[str, str] = {}
    for hf_name in state_dict_keys:
        base, _, suffix = hf_name.rpartition(".")
        mapped = name_map.get_name(base)
        if mapped is not None:
            out[hf_name] = f"{mapped}.{suffix}"
    return out


def _encode(data: np.ndarray, weight_type: WeightType) -> tuple[np.ndarray, Any]:
    """Numpy data and its GGML type: 1-D tensors (norms, biases) always stay f32."""
    import gguf

    qtypes = gguf.GGMLQuantizationType
    if data.ndim == 1 or weight_type == "f32":
        return data.astype(np.float32), qtypes.F32
    if weight_type == "f16":
        return data.astype(np.float16), qtypes.F16
    return gguf.quants.quantize(data.astype(np.float32), qtypes.Q8_0), qtypes.Q8_0


def _copy_metadata(reader: Any, writer: Any) -> None:
    import gguf

    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == gguf.Keys.General.ARCHITECTURE:
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub_type)


def _load_state_dict(hf_dir: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise InvalidInputError(f"no *.safetensors weights in {hf_dir}", field="model")
    state: dict[str, np.ndarray] = {}
    for file in files:
        state.update({k: v.astype(np.float32) for k, v in load_file(str(file)).items()})
    return state


def export_gguf(
    hf_dir: Path,
    template_gguf: Path,
    out_path: Path,
    *,
    weight_type: WeightType = "q8_0",
    untied_head: bool = False,
) -> Path:
    """Write ``out_path``: the template's metadata with the (merged) weights of ``hf_dir``.

    ``untied_head`` also writes ``hf_dir``'s own vocabulary head (``lm_head``) where the template
    ties it to the token embeddings: llama.cpp then projects with it instead."""
    import gguf

    reader = gguf.GGUFReader(str(template_gguf), "r")
    arch = str(_field_value(reader, gguf.Keys.General.ARCHITECTURE))
    n_layers = int(_field_value(reader, f"{arch}.block_count"))
    n_head = int(_field_value(reader, f"{arch}.attention.head_count"))
    n_head_kv = int(_field_value(reader, f"{arch}.attention.head_count_kv") or n_head)
    state = _load_state_dict(Path(hf_dir))
    names = _hf_to_gguf_names(list(state), arch, n_layers)
    by_gguf = {g: h for h, g in names.items()}
    wanted = [t.name for t in reader.tensors]
    if untied_head and OUTPUT_TENSOR not in wanted:
        wanted.append(OUTPUT_TENSOR)
    missing = [name for name in wanted if name not in by_gguf]
    if missing:
        raise InvalidInputError(f"{hf_dir} lacks tensors the template needs: {missing[:5]}", field="model")

    def fill(writer: Any) -> None:
        _copy_metadata(reader, writer)
        for name in wanted:
            data = state[by_gguf[name]]
            if arch in _PERMUTED_ARCHS and ".attn_q." in name:
                data = _permute_qk(data, n_head)
            elif arch in _PERMUTED_ARCHS and ".attn_k." in name:
                data = _permute_qk(data, n_head_kv)
            encoded, qtype = _encode(data, weight_type)
            writer.add_tensor(name, encoded, raw_dtype=qtype)

    return write_gguf(out_path, arch, fill)


def write_gguf(out_path: Path, arch: str, fill: Callable[[Any], None]) -> Path:
    """Write a GGUF of architecture ``arch`` whose keys and tensors ``fill(writer)`` adds; the file
    appears at ``out_path`` only once complete (written beside it, then renamed)."""
    import gguf

    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    fill(writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out_path)
    return out_path
