"""The validator on whole files and folders: every bad line reported, every good record kept."""

from __future__ import annotations

import json

import pytest

from stillhouse.errors import DatasetError, InvalidInputError, NotFoundError
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import require_usable, validate_path


def test_mixed_dataset_reports_six_lines_and_keeps_120_records(mixed_dataset, mixed_dataset_expected):
    records, report = validate_path(mixed_dataset, "distillation")
    assert len(records) == 120 and all(isinstance(r, ConversationRecord) for r in records)
    assert records[0].messages[0].text == "videos of a dog playing fetch, take 0"
    assert (report.read, report.valid, report.invalid_records, report.blank_lines) == (126, 120, 6, 0)
    assert report.usable
    assert sorted({p.line for p in report.invalid}) == [line for line, _, _ in mixed_dataset_expected]
    for line, field, words in mixed_dataset_expected:
        matches = [p for p in report.invalid if p.line == line and p.field == field]
        assert matches, f"line {line}: no problem on {field}: {report.invalid}"
        assert words in matches[0].reason
    assert report.by_rule == {
        "empty-text": 1,
        "image-role": 1,
        "json": 1,
        "reserved-string": 1,
        "roles": 1,
        "s3-uri": 1,
        "text-only": 1,
    }
    require_usable(report)  # does not raise


def test_too_few_valid_records_is_not_usable(tmp_path, make_record):
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(make_record(f"q{i}")) for i in range(99)) + "\n\n")
    records, report = validate_path(path)
    assert len(records) == 99 and report.blank_lines == 1 and not report.usable
    assert "at least 100" in report.dataset_problems[0]
    with pytest.raises(DatasetError, match="at least 100"):
        require_usable(report)


def test_fine_tuning_profile_needs_labelled_records(tmp_path, make_record):
    path = tmp_path / "ft.jsonl"
    lines = [make_record(f"q{i}", answer="kw1, kw2") for i in range(8)] + [make_record("unlabelled")]
    path.write_text("\n".join(json.dumps(r) for r in lines))
    records, report = validate_path(path, "fine-tuning")
    assert len(records) == 8 and report.usable
    assert [(p.line, p.rule) for p in report.invalid] == [(9, "labelled")]


def test_folder_source_names_files_and_restarts_line_numbers(tmp_path, make_record):
    (tmp_path / "b.jsonl").write_text(json.dumps(make_record("fine")) + "\n[]\n")
    (tmp_path / "a.jsonl").write_text("{oops\n" + json.dumps(make_record("ok")) + "\n")
    (tmp_path / "notes.txt").write_text("not a dataset")
    records, report = validate_path(tmp_path, "fine-tuning")
    assert len(records) == 0  # fine-tuning wants labelled records; every line is reported
    located = [(p.file, p.line) for p in report.invalid]
    assert located[0] == ("a.jsonl", 1) and ("b.jsonl", 2) in located
    assert str(report.invalid[0]).startswith("a.jsonl: line 1: record: invalid JSON")


def test_unreadable_sources_raise_typed_errors(tmp_path):
    with pytest.raises(NotFoundError):
        validate_path(tmp_path / "nope.jsonl")
    with pytest.raises(NotFoundError, match="no .jsonl files"):
        validate_path(tmp_path)
    with pytest.raises(InvalidInputError, match="unknown profile"):
        validate_path(tmp_path, "pretraining")


def test_report_json_shape(mixed_dataset):
    _, report = validate_path(mixed_dataset)
    data = report.to_json()
    assert data["valid"] == 120 and data["usable"] is True and data["read"] == 126
    assert set(data["invalid"][0]) == {"line", "field", "reason", "rule"}
    json.dumps(data)
