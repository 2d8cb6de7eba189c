"""`stillhouse demo` parses its options into one DemoConfig and runs the recipe with it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.recipes import video_router
from stillhouse.recipes.video_router import DemoConfig


@pytest.mark.parametrize(("flags", "search"), [([], True), (["--no-search"], False), (["--search"], True)])
def test_demo_search_flag_reaches_the_config(
    flags: list[str], search: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[DemoConfig] = []
    monkeypatch.setattr(video_router, "run_demo", lambda config, log: seen.append(config))
    result = CliRunner().invoke(app, ["demo", "--out", "somewhere", *flags])
    assert result.exit_code == 0, result.output
    (config,) = seen
    assert config.search is search and str(config.out) == "somewhere"


@pytest.mark.parametrize(("flags", "chars"), [([], None), (["--reasoning-chars", "40"], 40)])
def test_demo_reasoning_chars_flag_reaches_the_student_format(
    flags: list[str], chars: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[DemoConfig] = []
    monkeypatch.setattr(video_router, "run_demo", lambda config, log: seen.append(config))
    result = CliRunner().invoke(app, ["demo", "--out", "somewhere", *flags])
    assert result.exit_code == 0, result.output
    assert seen[0].student_format.reasoning_chars == chars


@pytest.mark.parametrize("value", ["15", "1001", "forty"])
def test_demo_refuses_a_bad_reasoning_cap_before_running(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_router, "run_demo", lambda config, log: pytest.fail("ran"))
    result = CliRunner().invoke(app, ["demo", "--reasoning-chars", value])
    assert result.exit_code == 2 and "--reasoning-chars" in result.output
