"""`stillhouse serve` checks its port and database before it says "serving on": one-line errors, exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from tests.serve.helpers import API_KEY

from stillhouse.errors import InvalidInputError
from stillhouse.serve.launch import check_log_dir, open_jobs, open_listener


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STILLHOUSE_HOME": str(tmp_path / "home"), "STILLHOUSE_API_KEY": API_KEY}
    return subprocess.run(
        [sys.executable, "-m", "stillhouse", "serve", "--job-workers", "0", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.stderr
    assert "serving on" not in result.stderr and "Traceback" not in result.stderr


def test_busy_port_is_one_line_error_before_serving_on(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        _assert_one_line_error(_serve(tmp_path, "--port", str(port)), "already in use")


def test_port_out_of_range_is_one_line_error(tmp_path: Path) -> None:
    _assert_one_line_error(_serve(tmp_path, "--port", "99999"), "port")


def test_unusable_db_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    _assert_one_line_error(_serve(tmp_path, "--port", "0", "--db", str(blocker / "jobs.db")), "job database")


def test_bad_foundation_model_file_is_one_line_error(tmp_path: Path) -> None:
    table = tmp_path / "fm.json"
    table.write_text('{"smollm2": "x"}')
    _assert_one_line_error(
        _serve(tmp_path, "--port", "0", "--foundation-models", str(table)), "is not a Bedrock model id"
    )
    _assert_one_line_error(
        _serve(tmp_path, "--port", "0", "--foundation-models", str(tmp_path / "missing.json")),
        "cannot read the foundation-model file",
    )


def test_open_listener_refuses_a_taken_port() -> None:
    first = open_listener("127.0.0.1", 0)
    try:
        with pytest.raises(InvalidInputError, match="already in use"):
            open_listener("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()


def test_open_jobs_refuses_a_db_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidInputError, match="cannot open the job database"):
        open_jobs(tmp_path / "f" / "jobs.db")


def test_unwritable_log_folder_is_one_line_error(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "serve").write_text("a file where the log folder goes")
    _assert_one_line_error(_serve(tmp_path, "--port", "0"), "cannot write invocation logs")


def test_check_log_dir_creates_the_folder(tmp_path: Path) -> None:
    check_log_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []
