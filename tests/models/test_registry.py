"""Model specs: parsing every form, refusing bad ones, and keeping heavy imports lazy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models import ModelSpec, load_model, parse_spec, resolve
from stillhouse.models.manifest import write_manifest


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
        (
            "fast-router:/runs/demo/models/fast-router",
            ModelSpec(backend="fast-router", target="/runs/demo/models/fast-router"),
        ),
    ],
)
def test_parse_spec_forms(spec, expected):
    assert parse_spec(spec) == expected


def test_a_bare_folder_is_transformers(tmp_path):
    assert parse_spec(str(tmp_path)) == ModelSpec(backend="hf", target=str(tmp_path))


@pytest.mark.parametrize(
    "spec", ["", "   ", "hf:", "bedrock:", "openai:no-base-url", "openai:m@ftp://x", "fast-router:"]
)
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


def test_importing_models_imports_no_task():
    """``models`` sits below ``tasks``: the student-format wrapper and the fast router are reached
    through the registry's hook and loader table, never imported by ``models`` itself."""
    code = (
        "import sys, stillhouse.models, stillhouse.models.registry, stillhouse.models.catalog\n"
        "print(sorted(m for m in sys.modules if m.startswith('stillhouse.tasks')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------ resolution


def test_unknown_catalog_names_do_not_resolve(models_home):
    with pytest.raises(NotFoundError):
        resolve("llamacpp:gpt-5")


def test_a_local_gguf_resolves_to_itself_with_its_folders_manifest(tmp_path):
    path = tmp_path / "mine.gguf"
    path.write_bytes(b"GGUF")
    resolved = resolve(str(path))
    assert resolved.backend == "llamacpp" and resolved.path == path and resolved.manifest is None
    write_manifest(tmp_path, "video-router")
    manifest = resolve(f"llamacpp:{path}").manifest
    assert manifest is not None and manifest.task == "video-router"


def test_hf_folders_resolve_as_they_are(tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "config.json").write_text("{}")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    assert resolve(f"hf:{full}").path == full and resolve(str(full)).backend == "hf"
    assert resolve(f"hf:{adapter}").path == adapter


def test_a_folder_that_is_no_model_is_not_found(tmp_path):
    with pytest.raises(NotFoundError, match="config.json"):
        resolve(f"hf:{tmp_path}")
    with pytest.raises(NotFoundError, match="fast_router.json"):
        resolve(f"fast-router:{tmp_path}")


def test_remote_specs_resolve_without_touching_anything():
    resolved = resolve("openai:m@http://127.0.0.1:9/v1")
    assert (resolved.backend, resolved.model_id, resolved.base_url, resolved.path) == (
        "openai",
        "m",
        "http://127.0.0.1:9/v1",
        None,
    )


def test_unknown_load_options_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        load_model("openai:m@http://127.0.0.1:9/v1", n_gpu_layers=3)


def test_a_fast_router_folder_loads_the_embedding_router(tmp_path):
    import numpy as np

    from stillhouse.models.embeddings import HashingEmbedder
    from stillhouse.router.fast_router import FastRouter, FastRouterModel
    from stillhouse.router.trainer import fit_embeddings

    router = FastRouter(HashingEmbedder(32), embedder_name="hashing:32")
    fit_embeddings(router, np.eye(32)[:4], np.eye(4) * 0.7 + 0.075)
    router.save(tmp_path / "fr")
    for spec in (str(tmp_path / "fr"), f"fast-router:{tmp_path / 'fr'}"):
        assert resolve(spec).backend == "fast-router"
        model = load_model(spec)
        assert isinstance(model, FastRouterModel) and model.name == "fast-router:fr"


def test_a_cut_router_folder_resolves_before_its_gguf_is_looked_at(tmp_path):
    from stillhouse.models.registry import CUT_ROUTER_CONFIG, SERVING_GGUF

    (tmp_path / CUT_ROUTER_CONFIG).write_text("{}")
    (tmp_path / SERVING_GGUF).write_text("")  # even beside a model.gguf, the folder is the router
    resolved = resolve(str(tmp_path))
    assert (resolved.backend, resolved.path) == ("cut-router", tmp_path)
