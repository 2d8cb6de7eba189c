"""Server settings from flags and environment, and `stillhouse serve` refusing to run without keys."""

from __future__ import annotations

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
