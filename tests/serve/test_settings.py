"""Server settings from flags and environment, and `stillhouse serve` refusing to run without keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.serve.settings import ServerSettings, settings_from_env


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STILLHOUSE_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("STILLHOUSE_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("STILLHOUSE_API_KEY", "sk-env")
    s = settings_from_env(access_key_id="FLAGKEY", secret_access_key="flagsecret", api_key=None, port=9000)
    assert (s.access_key_id, s.secret_access_key.get_secret_value(), s.port) == (
        "FLAGKEY",
        "flagsecret",
        9000,
    )
    assert s.api_key is not None and s.api_key.get_secret_value() == "sk-env"
    assert "flagsecret" not in repr(s) and s.host == "127.0.0.1"


def test_no_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STILLHOUSE_ACCESS_KEY_ID", "STILLHOUSE_SECRET_ACCESS_KEY", "STILLHOUSE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InvalidInputError, match="no credentials"):
        settings_from_env()
    with pytest.raises(InvalidInputError, match="together"):
        settings_from_env(access_key_id="ONLYKEY")
    assert settings_from_env(api_key="sk-1").sigv4_enabled is False


def test_cli_serve_refuses_to_start_without_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from typer.testing import CliRunner

    from stillhouse.cli import app

    for name in ("STILLHOUSE_ACCESS_KEY_ID", "STILLHOUSE_SECRET_ACCESS_KEY", "STILLHOUSE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", "--job-workers", "0", "--port", "0"])
    assert isinstance(result.exception, InvalidInputError) and "no credentials" in str(result.exception)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError):
        ServerSettings(workers=0)
    with pytest.raises(ValueError):
        ServerSettings(port=70000)


def test_cli_serve_hands_the_foundation_models_to_the_job_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The file is checked, then named in the environment the job worker processes inherit."""
    import os

    from typer.testing import CliRunner

    import stillhouse.serve.launch as launch
    from stillhouse.cli import app
    from stillhouse.models.foundation import ENV_FILE, ENV_ONLY, active_table

    table = tmp_path / "fm.json"
    table.write_text('{"amazon.nova-pro-v1:0": "tiny-teacher"}')
    seen: dict[str, str | None] = {}
    monkeypatch.setenv("STILLHOUSE_API_KEY", "k")
    monkeypatch.setattr(
        launch,
        "run_server",
        lambda *a, **k: seen.update({e: os.environ.get(e) for e in (ENV_FILE, ENV_ONLY)}),
    )
    monkeypatch.delenv(ENV_FILE, raising=False)
    monkeypatch.setenv(ENV_ONLY, "")  # restored after the test, whatever the command sets
    result = CliRunner().invoke(
        app, ["serve", "--job-workers", "0", "--foundation-models", str(table), "--foundation-models-only"]
    )
    assert result.exit_code == 0, result.output
    assert seen == {ENV_FILE: str(table.resolve()), ENV_ONLY: "1"}
    assert [m.modelId for m in active_table().models()] == ["amazon.nova-pro-v1:0"]
