"""What an index is: where it lives, how it was ingested, and its versions (``manifest.json``).

An index ``NAME`` is a folder ``STILLHOUSE_HOME/search/NAME`` holding ``manifest.json`` and, for the
embedded engine, the LanceDB tables. Each version records the ingest configuration and the model
versions it was built with; a rebuild under another configuration adds a version (a new table)
and leaves the old one readable. Only one writer at a time: writes hold ``NAME/.lock``.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse import paths
from stillhouse.errors import ConflictError, InvalidInputError, NotFoundError

Engine = Literal["lancedb", "milvus"]
MANIFEST = "manifest.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")


class IngestConfig(BaseModel):
    """How segments become rows; two versions with different ingest configs rank differently."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: str = "minilm"
    # A local CLIP/SigLIP folder: keyframes are embedded by its image tower and searched, as part of
    # the visual channel, with the query embedded by its text tower. None: visual is caption text only.
    image_embedder: str | None = None
    # LanceDB: brute force is exact and fast enough below this many rows; IVF_FLAT above it (its
    # k-means wants many rows per partition: below ~20k the index is both poorer and not faster).
    vector_index_min_rows: int = Field(default=20_000, ge=256)


class IndexVersion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    table: str
    config: IngestConfig
    models: dict[str, str]
    created: datetime
    segments: int = 0


class Manifest(BaseModel):
    """``manifest.json``: the engine, its location and every version, the newest current."""

    model_config = ConfigDict(extra="forbid")

    name: str
    engine: Engine = "lancedb"
    uri: str
    versions: list[IndexVersion] = Field(default_factory=list)

    def current(self) -> IndexVersion:
        if not self.versions:
            raise NotFoundError(f"index {self.name!r} has no segments yet", field="index")
        return self.versions[-1]

    def get(self, version: int | None) -> IndexVersion:
        """A version by number (``None``: the current one)."""
        if version is None:
            return self.current()
        for v in self.versions:
            if v.version == version:
                return v
        known = ", ".join(str(v.version) for v in self.versions) or "none"
        raise NotFoundError(
            f"index {self.name!r} has no version {version} (versions: {known})", field="version"
        )

    def add_version(self, config: IngestConfig, models: dict[str, str]) -> IndexVersion:
        number = (self.versions[-1].version + 1) if self.versions else 1
        version = IndexVersion(
            version=number,
            table=f"{self.name}_v{number}",
            config=config,
            models=models,
            created=datetime.now(UTC),
        )
        self.versions.append(version)
        return version


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(
            f"bad index name {name!r}: letters, digits, '_' and '-', at most 64, starting with a letter or digit",
            field="index",
        )
    return name


def index_dir(name: str) -> Path:
    return paths.home() / "search" / check_name(name)


def default_uri(name: str, engine: Engine) -> str:
    """LanceDB: the index folder itself; Milvus: a milvus-lite file inside it."""
    folder = index_dir(name)
    return str(folder / "lance") if engine == "lancedb" else str(folder / "milvus.db")


def load_manifest(name: str) -> Manifest | None:
    path = index_dir(name) / MANIFEST
    return Manifest.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None


def list_indexes() -> list[str]:
    """The names of the indexes under ``STILLHOUSE_HOME/search`` (those with a manifest), sorted."""
    root = paths.home() / "search"
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _NAME.match(p.name) and (p / MANIFEST).is_file())


def require_manifest(name: str) -> Manifest:
    manifest = load_manifest(name)
    if manifest is None:
        raise NotFoundError(f"no search index {name!r} under {index_dir(name).parent}", field="index")
    return manifest


def save_manifest(manifest: Manifest) -> None:
    """Written beside and renamed, so a reader never sees half a manifest."""
    folder = index_dir(manifest.name)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=folder)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(manifest.model_dump_json(indent=2))
    os.replace(tmp, folder / MANIFEST)


@contextmanager
def writer_lock(name: str) -> Iterator[None]:
    """The single-writer guarantee: a second writer of the same index is refused, not queued."""
    folder = index_dir(name)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ConflictError(f"index {name!r} is being written by another process", field="index") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
