"""publish_student: the serving folder is the trained model plus model.gguf when the base has a GGUF."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillhouse.errors import NotFoundError
from stillhouse.models.manifest import MANIFEST, write_manifest
from stillhouse.train import publish
from stillhouse.train.publish import PublishConfig, publish_student


def _trained(tmp_path: Path) -> Path:
    model_dir = tmp_path / "run" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "config.json").write_text("{}")
    write_manifest(model_dir, "video-router")
    return model_dir


def test_a_plain_folder_base_publishes_the_model_without_a_gguf(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text("{}")
    target = tmp_path / "published"
    target.mkdir()
    (target / "stale.bin").write_text("from an earlier publish")
    out = publish_student(_trained(tmp_path), target, PublishConfig(base=str(base)))
    assert out == target and {p.name for p in target.iterdir()} == {"config.json", MANIFEST}
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".publishing")] == []


def test_a_gguf_base_is_the_template_of_model_gguf(tmp_path: Path, monkeypatch) -> None:
    template = tmp_path / "base.gguf"
    template.write_bytes(b"GGUF")
    calls: list[tuple[Path, Path, str]] = []

    def fake_export(hf_dir: Path, template_gguf: Path, out_path: Path, *, weight_type: str) -> Path:
        calls.append((template_gguf, out_path.name, weight_type))
        out_path.write_bytes(b"GGUF")
        return out_path

    monkeypatch.setattr("stillhouse.models.gguf_export.export_gguf", fake_export)
    target = publish_student(_trained(tmp_path), tmp_path / "published", PublishConfig(base=str(template)))
    assert calls == [(template, "model.gguf", "q8_0")] and (target / "model.gguf").is_file()
    assert publish.base_gguf(str(target)) == target / "model.gguf"  # a published folder is a GGUF base too


def test_an_unmerged_adapter_gets_no_gguf(tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    template = tmp_path / "base.gguf"
    template.write_bytes(b"GGUF")
    target = publish_student(adapter, tmp_path / "published", PublishConfig(base=str(template)))
    assert not (target / "model.gguf").exists() and (target / "adapter_config.json").is_file()


def test_an_unknown_base_is_refused_before_anything_is_published(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        publish_student(_trained(tmp_path), tmp_path / "published", PublishConfig(base="gpt-17"))
    assert not (tmp_path / "published").exists() and not (tmp_path / "published.publishing").exists()
