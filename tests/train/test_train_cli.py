"""`stillhouse train` on the tiny student: flags reach the library, --json prints the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import InvalidInputError, OutputPathError

pytestmark = pytest.mark.model


def _args(student: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--student", str(student), "--data", str(data), "--out", str(out), *extra]


def test_train_command_prints_json_result(tiny_student: Path, router_file: Path, tmp_path: Path) -> None:
    extra = ["--hp", "epochCount=1", "--hp", "batchSize=4", "--method", "full", "--max-steps", "1", "--json"]
    result = CliRunner().invoke(app, _args(tiny_student, router_file, tmp_path / "out", *extra))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["steps"] == 1 and payload["hyperparameters"]["batchSize"] == 4
    assert Path(payload["model_dir"], "config.json").is_file()


def test_train_command_refuses_unknown_hyperparameter(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(app, _args(tiny_student, router_file, tmp_path / "out", "--hp", "epochs=2"))
    assert isinstance(result.exception, InvalidInputError)  # main() prints it as `error: ...`, exit 2
    assert "epochs" in str(result.exception)


def test_keep_checkpoints_flag_reaches_the_run(tiny_student: Path, router_file: Path, tmp_path: Path) -> None:
    extra = ["--hp", "epochCount=1", "--max-steps", "1", "--keep-checkpoints", "--json"]
    result = CliRunner().invoke(app, _args(tiny_student, router_file, tmp_path / "out", *extra))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "checkpoints" / "step-000001" / "tensors.pt").is_file()
    assert "training: 1/1 (100%)" in result.stderr  # progress without a terminal, beside pure JSON
    json.loads(result.stdout)


def test_train_refuses_an_out_under_a_file(tiny_student: Path, router_file: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(app, _args(tiny_student, router_file, tmp_path / "file" / "out"))
    assert isinstance(result.exception, OutputPathError)
    assert result.exception.field == "out"


def test_train_refuses_processes_that_do_not_split_the_batch(
    tiny_student: Path, router_file: Path, tmp_path: Path
) -> None:
    extra = ["--hp", "batchSize=4", "--processes", "3"]
    result = CliRunner().invoke(app, _args(tiny_student, router_file, tmp_path / "out", *extra))
    assert isinstance(result.exception, InvalidInputError)
    assert result.exception.field == "batchSize" and "does not split over 3 process" in str(result.exception)
    assert not (tmp_path / "out").exists()
