"""`stillhouse batch FILE --model SPEC --out FILE` on a tiny random-weight model: one output line per
record in input order, an error line for a malformed record, and a rerun answered from the cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.batch.helpers import input_lines
from tests.jobs.helpers import build_tiny_student
from typer.testing import CliRunner

from stillhouse.cli import app

runner = CliRunner()


@pytest.mark.model
def test_batch_on_a_tiny_model_writes_every_record_in_order(stillhouse_home: Path, tmp_path: Path) -> None:
    student = build_tiny_student(tmp_path / "tiny")
    source = tmp_path / "records.jsonl"
    source.write_text("\n".join(input_lines(6, malformed_at=2)) + "\n")
    out = tmp_path / "records.jsonl.out"
    args = ["batch", str(source), "--model", f"hf:{student}", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert (manifest["totalRecordCount"], manifest["successRecordCount"], manifest["errorRecordCount"]) == (
        6,
        5,
        1,
    )
    assert manifest["outputTokenCount"] > 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["recordId"] for i, line in enumerate(lines) if i != 2] == [
        f"rec-{i:04d}" for i in (0, 1, 3, 4, 5)
    ]
    assert "error" in lines[2] and all("modelOutput" in line for i, line in enumerate(lines) if i != 2)

    # Every answer is cached now: a rerun never loads the model (its folder is gone) and answers all.
    import shutil

    shutil.rmtree(student)
    again = runner.invoke(app, [*args[:4], "--out", str(tmp_path / "again.out")])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.out").read_text() == out.read_text()


def test_batch_refuses_a_missing_file_before_loading_anything(stillhouse_home: Path, tmp_path: Path) -> None:
    from stillhouse.errors import NotFoundError

    result = runner.invoke(
        app, ["batch", str(tmp_path / "nope.jsonl"), "--model", "x", "--out", str(tmp_path / "o")]
    )
    assert isinstance(result.exception, NotFoundError) and "does not exist" in str(result.exception)


def test_batch_with_a_model_that_cannot_load_is_one_error(stillhouse_home: Path, tmp_path: Path) -> None:
    from stillhouse.errors import NotFoundError

    source = tmp_path / "records.jsonl"
    source.write_text("\n".join(input_lines(2)) + "\n")
    out = tmp_path / "o.out"
    result = runner.invoke(
        app, ["batch", str(source), "--model", str(tmp_path / "no-such-model"), "--out", str(out)]
    )
    assert isinstance(result.exception, NotFoundError) and not out.exists()
