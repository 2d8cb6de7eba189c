"""Fixtures for the model tests: fake "packages" carrying model parts, an isolated models folder."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

from stillhouse.models.catalog import CatalogEntry, Part


@pytest.fixture
def models_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``STILLHOUSE_MODELS`` for one test."""
    folder = tmp_path / "models"
    monkeypatch.setenv("STILLHOUSE_MODELS", str(folder))
    return folder


@pytest.fixture
def fake_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CatalogEntry]:
    """Build a catalog entry over real importable packages holding the given part bytes.

    ``fake_entry([b"abc", b"def"], name="x")`` writes packages ``x_part1``/``x_part2`` on sys.path;
    the entry's sha256 and size are those of the concatenation unless overridden.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def build(chunks: list[bytes], *, name: str = "fakemodel", sha256: str | None = None) -> CatalogEntry:
        parts = []
        for i, chunk in enumerate(chunks, start=1):
            package = f"{name}_part{i}"
            (site / package / "data").mkdir(parents=True)
            (site / package / "__init__.py").write_text("")
            (site / package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
            parts.append(
                Part(package=package, distribution=f"{name}-part{i}==1.0", file=f"data/part{i:02d}.bin")
            )
        importlib.invalidate_caches()
        whole = b"".join(chunks)
        return CatalogEntry(
            name=name,
            kind="gguf",
            role="test",
            model="fake",
            license="MIT",
            size_bytes=len(whole),
            sha256=sha256 or hashlib.sha256(whole).hexdigest(),
            filename=f"{name}.gguf",
            parts=tuple(parts),
        )

    return build
