"""A GGUF decoder cut to its first layers: the early-exit encoder of a published student.

The router's weights-only path reads the student's route probabilities from one pass over the
query through all of its layers (:mod:`stillhouse.tasks.video_router.route_head`); that pass grows
with every token and every layer. Cut to its first ``layers`` blocks (the token embeddings, those
blocks and the final norm kept byte for byte, the later blocks and the output head left out), the
same weights run as an encoder in llama.cpp's embedding mode: a fast router's encoder
(:class:`stillhouse.models.embeddings.GgufEmbedder`) whose head is fitted on the student's own
early features (``benchmarks/bench_early_exit.py``). A file rewrite, no numbers are computed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from stillhouse.errors import InvalidInputError, MissingDependencyError
from stillhouse.models.gguf_export import OUTPUT_TENSOR

_BLOCK = re.compile(r"^blk\.(\d+)\.")
Pooling = Literal["mean", "last"]
_POOLING = {"mean": 1, "last": 3}  # llama.cpp's LLAMA_POOLING_TYPE_MEAN and _LAST


def gguf_block_count(path: Path) -> int:
    """How many transformer blocks the GGUF at ``path`` holds (its ``<arch>.block_count``)."""
    reader = _reader(path)
    return _block_count(reader, _architecture(reader))


def truncate_gguf(source: Path, out: Path, layers: int, pooling: Pooling = "mean") -> Path:
    """``source`` rewritten to ``out`` with only its first ``layers`` blocks, ``block_count`` set to
    match, its pooling (how llama.cpp's embedding mode makes one vector of a text's tokens: their
    mean, or the last token's, which alone has read them all in a causal model) set to
    ``pooling``, and every other key and tensor (tokenizer, embeddings, final norm) as it was."""
    import gguf

    reader = _reader(source)
    arch = _architecture(reader)
    key, total = f"{arch}.block_count", _block_count(reader, arch)
    pooling_key = f"{arch}.pooling_type"
    if pooling not in _POOLING:
        raise InvalidInputError(
            f"pooling must be one of {', '.join(_POOLING)}, not {pooling!r}", field="pooling"
        )
    if not 1 <= layers <= total:
        raise InvalidInputError(f"{source} has {total} layers; cannot keep {layers}", field="layers")
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out), arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name in (gguf.Keys.General.ARCHITECTURE, pooling_key) or field.name.startswith("GGUF."):
            continue  # the writer writes these itself; the pooling is written below
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = layers if field.name == key else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub_type)
    writer.add_key_value(pooling_key, _POOLING[pooling], gguf.GGUFValueType.UINT32)
    kept = [t for t in reader.tensors if _kept(t.name, layers)]
    for tensor in kept:
        writer.add_tensor_info(
            tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
        )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in kept:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return out


def _kept(name: str, layers: int) -> bool:
    block = _BLOCK.match(name)
    return name != OUTPUT_TENSOR if block is None else int(block.group(1)) < layers


def _reader(path: Path):  # -> gguf.GGUFReader
    try:
        import gguf
    except ImportError as exc:
        raise MissingDependencyError("cutting a GGUF needs the gguf package: pip install gguf") from exc
    if not Path(path).is_file():
        raise InvalidInputError(f"no GGUF file at {path}", field="model")
    try:
        return gguf.GGUFReader(str(path))
    except (ValueError, OSError) as exc:
        raise InvalidInputError(f"{path} is not a GGUF file: {exc}", field="model") from exc


def _architecture(reader) -> str:  # noqa: ANN001 - gguf.GGUFReader, imported lazily
    field = reader.get_field("general.architecture")
    if field is None:
        raise InvalidInputError("the GGUF names no architecture", field="model")
    return str(field.contents())


def _block_count(reader, arch: str) -> int:  # noqa: ANN001 - gguf.GGUFReader, imported lazily
    field = reader.get_field(f"{arch}.block_count")
    if field is None:
        raise InvalidInputError(f"the GGUF has no {arch}.block_count", field="model")
    return int(field.contents())
