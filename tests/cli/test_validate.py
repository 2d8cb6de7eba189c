"""`stillhouse validate` through typer's CliRunner: text and --json output, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.errors import NotFoundError

runner = CliRunner()


def test_text_output_lists_every_bad_line_and_exits_0_when_usable(mixed_dataset, mixed_dataset_expected):
    result = runner.invoke(app, ["validate", str(mixed_dataset)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for line, field, words in mixed_dataset_expected:
        assert any(out.startswith(f"line {line}: {field}: ") and words in out for out in lines), (line, lines)
    assert "126 records read: 120 valid, 6 invalid; distillation dataset usable" in result.stdout
    assert "invalid records by rule: empty-text 1, image-role 1, json 1" in result.stdout


def test_json_output(mixed_dataset, mixed_dataset_expected):
    result = runner.invoke(app, ["validate", str(mixed_dataset), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["read"], data["valid"], data["usable"]) == (126, 120, True)
    assert sorted({p["line"] for p in data["invalid"]}) == [line for line, _, _ in mixed_dataset_expected]
    assert all({"line", "field", "reason"} <= set(p) for p in data["invalid"])
    assert data["by_rule"]["json"] == 1


def test_unusable_dataset_exits_1(tmp_path, make_record):
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(json.dumps(make_record(f"q{i}")) for i in range(10)))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "NOT usable: 10 valid records; a distillation dataset needs at least 100" in result.stdout
    as_json = runner.invoke(app, ["validate", str(path), "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["usable"] is False


def test_fine_tuning_profile(tmp_path, make_record):
    path = tmp_path / "ft.jsonl"
    path.write_text("\n".join(json.dumps(make_record(f"q{i}", answer="a, b")) for i in range(8)))
    result = runner.invoke(app, ["validate", str(path), "--profile", "fine-tuning", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["profile"] == "fine-tuning"
    assert runner.invoke(app, ["validate", str(path), "--profile", "pretraining"]).exit_code == 2


def test_missing_file_is_a_typed_error(tmp_path):
    # The CLI edge (cli.app.main) turns this into one line and exit code 2.
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.jsonl")])
    assert isinstance(result.exception, NotFoundError)


def test_invocation_logs_and_student(tmp_path):
    import gzip

    from tests.sources.test_log_check import log_line, write_logs

    root = write_logs(tmp_path, [log_line(f"q{i}", turns=2) for i in range(100)])
    result = runner.invoke(app, ["validate", "--invocation-logs", str(root), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["valid"] == 100 and json.loads(result.stdout)["logs"]["kept"] == 100
    result = runner.invoke(
        app, ["validate", "--invocation-logs", str(root), "--student", "meta.llama3-1-8b-instruct-v1:0:128k"]
    )
    assert result.exit_code == 1
    assert "takes single-turn prompts only" in result.stdout and "single-turn 100" in result.stdout
    gz = tmp_path / "data.jsonl"
    gz.write_bytes(gzip.compress(b"{}\n"))
    result = runner.invoke(app, ["validate", str(gz)])
    assert result.exit_code == 1 and "gzip-compressed" in result.stdout
