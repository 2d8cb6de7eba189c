"""The root command: --version, the types --help shows, and tables that fit an 80-column terminal."""

from __future__ import annotations

import re

import pytest
import typer.main
from typer.testing import CliRunner

from stillhouse.cli import app

runner = CliRunner()


def _commands() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths = []
    for name, command in root.commands.items():
        subs = getattr(command, "commands", None)
        paths += [[name, sub] for sub in subs] if subs else [[name]]
    return paths


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"stillhouse {version('stillhouse')}\n"


@pytest.mark.parametrize("command", _commands(), ids=" ".join)
def test_help_shows_click_type_names_and_none_for_flags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert not re.search(r"<(bool|int|float|str|path|list)[^>]*>", result.stdout), result.stdout
    for line in result.stdout.splitlines():
        if "--json" in line or "--help" in line:
            assert not re.search(r"\b(BOOLEAN|TEXT|INTEGER)\b", line), line  # a flag takes no value


def test_help_names_integer_path_and_choices() -> None:
    text = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    assert re.search(r"--max-steps\s+INTEGER\s+\[x>=1\]", text)
    assert re.search(r"--data\s+PATH", text) and re.search(r"--method\s+\[lora\|full\]", text)
    assert re.search(r"--merge\s+--no-merge\s+Merge", text)  # no type column for a flag pair


def test_models_list_fits_80_columns(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STILLHOUSE_MODELS", str(tmp_path / "models"))
    result = runner.invoke(app, ["models", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "name" in line)
    assert header.split() == ["name", "role", "licence", "size", "installed", "pulled"]
    for whole in ("smollm2-135m", "qwen2.5-coder-1.5b", "all-minilm-l6-v2", "Apache-2.0", "1,117 MB"):
        assert whole in result.stdout  # not folded across lines
    assert "…" not in result.stdout


def test_generate_queries_warns_above_the_distillation_cap(tmp_path, monkeypatch) -> None:
    import stillhouse.tasks.video_router.synth as synth

    monkeypatch.setattr(synth, "synthesize", lambda config, **kwargs: [])  # the count is what matters
    out = str(tmp_path / "q.jsonl")
    above = runner.invoke(app, ["generate-queries", "--n", "15001", "--out", out])
    assert above.exit_code == 0, above.output
    assert "15,000" in above.stderr and "distillation" in above.stderr
    at_cap = runner.invoke(app, ["generate-queries", "--n", "15000", "--out", out])
    assert at_cap.exit_code == 0 and "warning" not in at_cap.stderr
