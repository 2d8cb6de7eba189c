"""The foundation-model table: every id form Bedrock accepts, the defaults, a user's file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.foundation import DEFAULT_FILE, canonical_id, load_table

TEACHER, STUDENT = "qwen2.5-coder-1.5b", "smollm2-135m"


@pytest.mark.parametrize(
    ("identifier", "model_id"),
    [
        ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        ("amazon.nova-micro-v1:0:128k", "amazon.nova-micro-v1:0:128k"),
        ("us.amazon.nova-premier-v1:0", "amazon.nova-premier-v1:0"),
        ("eu.meta.llama3-1-70b-instruct-v1:0", "meta.llama3-1-70b-instruct-v1:0"),
        ("apac.anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
        ("arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-premier-v1:0",
            "amazon.nova-premier-v1:0",
        ),
    ],
)
def test_every_id_form_names_its_model(identifier: str, model_id: str) -> None:
    assert canonical_id(identifier) == model_id
    assert load_table().get(identifier) is not None


@pytest.mark.parametrize("spec", ["qwen2.5-coder-1.5b", "model.gguf", "runs/student", "router-v1", "us.x"])
def test_specs_that_are_not_bedrock_ids_pass_through(spec: str) -> None:
    assert canonical_id(spec) is None
    assert load_table().spec_for(spec) == spec


def test_defaults_cover_the_seeds_and_notebooks_by_role() -> None:
    table = load_table()
    for teacher in ("amazon.nova-pro-v1:0", "us.amazon.nova-premier-v1:0", "meta.llama3-1-70b-instruct-v1:0"):
        assert table.require(teacher).role == "teacher"
        assert table.spec_for(teacher) == TEACHER
    for student in (
        "amazon.nova-micro-v1:0:128k",
        "amazon.nova-lite-v1:0:300k",
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "meta.llama3-2-1b-instruct-v1:0",
        "meta.llama3-2-3b-instruct-v1:0:128k",
        "anthropic.claude-3-haiku-20240307-v1:0:200k",
    ):
        assert table.require(student).role == "student"
        assert table.spec_for(student) == STUDENT
    assert "DISTILLATION" in table.require("amazon.nova-micro-v1:0:128k").customizationsSupported


def test_unknown_bedrock_id_is_resource_not_found() -> None:
    with pytest.raises(NotFoundError, match="Could not resolve the foundation model"):
        load_table().spec_for("amazon.nova-ultra-v9:0", "baseModelIdentifier")


def test_user_file_extends_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "fm.json"
    path.write_text(
        json.dumps({"amazon.nova-pro-v1:0": "tiny-teacher", "mistral.mistral-small-2402-v1:0": "x"})
    )
    table = load_table(path)
    assert table.spec_for("us.amazon.nova-pro-v1:0") == "tiny-teacher"
    assert table.require("amazon.nova-pro-v1:0").role == "teacher"  # the default entry keeps its fields
    assert table.spec_for("mistral.mistral-small-2402-v1:0") == "x"
    assert table.spec_for("amazon.nova-micro-v1:0:128k") == STUDENT  # the rest of the defaults stay


def test_user_file_replaces_with_only(tmp_path: Path) -> None:
    path = tmp_path / "fm.json"
    path.write_text(json.dumps({"amazon.nova-micro-v1:0:128k": {"spec": "tiny", "role": "student"}}))
    table = load_table(path, only=True)
    assert [m.modelId for m in table.models()] == ["amazon.nova-micro-v1:0:128k"]
    with pytest.raises(NotFoundError):
        table.spec_for("amazon.nova-pro-v1:0")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"us.amazon.nova-pro-v1:0": "x"}, "us.amazon.nova-pro-v1:0"),  # a profile, not a model id
        ({"smollm2": "x"}, "smollm2"),
        ({"amazon.nova-pro-v1:0": ""}, "amazon.nova-pro-v1:0"),
        ({"amazon.nova-pro-v1:0": {"spec": "x", "role": "oracle"}}, "amazon.nova-pro-v1:0.role"),
        ({"amazon.nova-pro-v1:0": {"spec": "x", "colour": "red"}}, "amazon.nova-pro-v1:0.colour"),
        (["amazon.nova-pro-v1:0"], None),
    ],
)
def test_bad_user_files_are_refused_naming_the_entry(tmp_path: Path, doc: object, field: str | None) -> None:
    path = tmp_path / "fm.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError) as info:
        load_table(path)
    assert info.value.field == "foundation_models" + (f".{field}" if field else "")


def test_unreadable_file_is_one_error(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    for path in (tmp_path / "bad.json", tmp_path / "missing.json"):
        with pytest.raises(InvalidInputError, match="cannot read the foundation-model file"):
            load_table(path)


def test_default_file_names_fit_bedrock_limits() -> None:
    doc = json.loads(DEFAULT_FILE.read_text())
    assert len({m["modelId"] for m in doc["models"]}) == len(doc["models"])
    assert all(len(m["modelName"]) <= 20 for m in doc["models"])


def test_active_table_reads_the_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stillhouse.models.foundation import ENV_FILE, active_table

    path = tmp_path / "fm.json"
    path.write_text(json.dumps({"amazon.nova-pro-v1:0": "env-teacher"}))
    monkeypatch.setenv(ENV_FILE, str(path))
    assert active_table().spec_for("amazon.nova-pro-v1:0") == "env-teacher"
