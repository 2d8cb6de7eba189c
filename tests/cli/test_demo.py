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
