"""`stillhouse models list|pull|check`: thin commands over the catalog."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import CorruptModelError, NotFoundError

runner = CliRunner()


@pytest.fixture
def models_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STILLHOUSE_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_list_json_shows_every_entry(models_home):
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == [
        "smollm2-135m",
        "qwen2.5-coder-0.5b",
        "qwen2.5-coder-1.5b",
        "gemma3-270m",
        "all-minilm-l6-v2",
    ]
    assert {"role", "license", "size_bytes", "installed", "pulled", "path"} <= set(rows[0])
    assert not any(r["pulled"] for r in rows if r["name"] != "all-minilm-l6-v2")


def test_list_table_and_help(models_home):
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "smollm2-135m" in result.stdout
    assert "sha256" in runner.invoke(app, ["models", "pull", "--help"]).stdout


def test_unknown_model_raises_not_found(models_home):
    result = runner.invoke(app, ["models", "pull", "gpt-17"])
    assert isinstance(result.exception, NotFoundError)


@pytest.mark.integration
def test_pull_then_check(models_home):
    result = runner.invoke(app, ["models", "pull", "smollm2-135m", "--json"])
    assert result.exit_code == 0, result.output
    path = json.loads(result.stdout)["path"]
    assert path.startswith(str(models_home))
    checked = runner.invoke(app, ["models", "check", "smollm2-135m", "--json"])
    assert json.loads(checked.stdout)["pulled"] is True
    with open(path, "r+b") as handle:  # flip one byte in place: size unchanged
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    assert isinstance(runner.invoke(app, ["models", "check", "smollm2-135m"]).exception, CorruptModelError)
