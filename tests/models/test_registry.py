"""Model specs: parsing every form, refusing bad ones, and keeping heavy imports lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models import ModelSpec, load_model, parse_spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("smollm2-135m", ModelSpec(backend="llamacpp", target="smollm2-135m")),
        ("  qwen2.5-coder-1.5b ", ModelSpec(backend="llamacpp", target="qwen2.5-coder-1.5b")),
        ("llamacpp:/m/x.gguf", ModelSpec(backend="llamacpp", target="/m/x.gguf")),
        ("llamacpp:gemma3-270m", ModelSpec(backend="llamacpp", target="gemma3-270m")),
        ("hf:/runs/job-1/model", ModelSpec(backend="hf", target="/runs/job-1/model")),
        ("hf:smollm2-135m", ModelSpec(backend="hf", target="smollm2-135m")),
        ("/some/where/student.gguf", ModelSpec(backend="llamacpp", target="/some/where/student.gguf")),
        (
            "openai:qwen2.5@http://localhost:8000/v1",
            ModelSpec(backend="openai", target="qwen2.5", base_url="http://localhost:8000/v1"),
        ),
        (
            "openai:org/model:7b@https://user@host.example/v1",
            ModelSpec(backend="openai", target="org/model:7b", base_url="https://user@host.example/v1"),
        ),
        (
            "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
            ModelSpec(backend="bedrock", target="anthropic.claude-3-haiku-20240307-v1:0"),
        ),
    ],
)
def test_parse_spec_forms(spec, expected):
    assert parse_spec(spec) == expected


def test_a_bare_folder_is_transformers(tmp_path):
    assert parse_spec(str(tmp_path)) == ModelSpec(backend="hf", target=str(tmp_path))


@pytest.mark.parametrize("spec", ["", "   ", "hf:", "bedrock:", "openai:no-base-url", "openai:m@ftp://x"])
def test_malformed_specs_are_invalid_input(spec):
    with pytest.raises(InvalidInputError):
        parse_spec(spec)


@pytest.mark.parametrize("spec", ["gpt-17", "all-minilm-l6-v2", "/no/such/folder"])
def test_unknown_models_are_not_found_and_list_the_forms(spec):
    with pytest.raises(NotFoundError, match="openai:MODEL@BASE_URL"):
        parse_spec(spec)


def test_load_model_builds_remote_backends_without_network(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    openai = load_model("openai:m@http://127.0.0.1:9/v1", api_key="k")
    assert openai.name == "openai:m@http://127.0.0.1:9/v1" and openai.supports_json_schema
    bedrock = load_model("bedrock:amazon.nova-micro-v1:0", endpoint_url="http://127.0.0.1:9")
    assert bedrock.name == "bedrock:amazon.nova-micro-v1:0" and not bedrock.supports_json_schema


def test_importing_models_and_cli_stays_light():
    code = (
        "import sys, stillhouse.models, stillhouse.models.catalog, stillhouse.models.embeddings, "
        "stillhouse.models.llamacpp, stillhouse.models.hf, stillhouse.models.bedrock, stillhouse.cli\n"
        "heavy = {'torch', 'transformers', 'llama_cpp', 'boto3', 'sentence_transformers', 'peft'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_published_folder_with_model_gguf_is_served_by_llama_cpp(tmp_path):
    from stillhouse.models.registry import SERVING_GGUF, parse_spec

    (tmp_path / "config.json").write_text("{}")
    assert parse_spec(str(tmp_path)).backend == "hf"
    (tmp_path / SERVING_GGUF).write_bytes(b"GGUF")
    spec = parse_spec(str(tmp_path))
    assert spec.backend == "llamacpp" and spec.target == str(tmp_path / SERVING_GGUF)
    assert parse_spec(f"hf:{tmp_path}").backend == "hf"
