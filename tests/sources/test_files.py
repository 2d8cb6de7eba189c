"""Sources: a JSONL file, a folder of them, and the same under s3:// (local store)."""

from __future__ import annotations

import json

import pytest

from stillhouse.errors import NotFoundError
from stillhouse.records.rules import RecordProblem
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import validate_path
from stillhouse.sources.files import iter_source_lines, read_source
from stillhouse.sources.objectstore import LocalObjectStore


def _line(make_record, text: str) -> str:
    return json.dumps(make_record(text))


def test_folder_reads_jsonl_files_in_sorted_order(tmp_path, make_record):
    (tmp_path / "2.jsonl").write_text(_line(make_record, "second") + "\n")
    (tmp_path / "1.jsonl").write_text(_line(make_record, "first") + "\n\n[]\n")
    (tmp_path / "readme.md").write_text("ignored")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "0.jsonl").write_text(_line(make_record, "not read: folders are not recursive"))
    lines = list(iter_source_lines(tmp_path))
    assert [(s.file, s.line, s.raw is None) for s in lines] == [
        ("1.jsonl", 1, False),
        ("1.jsonl", 2, True),
        ("1.jsonl", 3, False),
        ("2.jsonl", 1, False),
    ]
    items = list(read_source(tmp_path))
    assert [n for n, _ in items] == [1, 3, 1]
    problem = items[1][1]
    assert isinstance(problem, RecordProblem) and problem.file == "1.jsonl"
    assert isinstance(items[2][1], ConversationRecord) and items[2][1].messages[0].text == "second"


def test_single_file_problems_carry_no_file_name(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text("{broken\n")
    [(line, problem)] = list(read_source(path))
    assert line == 1 and isinstance(problem, RecordProblem) and problem.file is None


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(NotFoundError, match="no such file or folder"):
        list(iter_source_lines(tmp_path / "nope"))
    with pytest.raises(NotFoundError, match="no .jsonl files"):
        list(iter_source_lines(tmp_path))


def test_s3_object_and_prefix_sources(tmp_path, make_record):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("s3://data/train/b.jsonl", (_line(make_record, "b") + "\n").encode())
    store.put_bytes("s3://data/train/a.jsonl", b"{bad\n" + _line(make_record, "a").encode())
    store.put_bytes("s3://data/train/deeper/c.jsonl", _line(make_record, "deeper").encode())
    one = list(read_source("s3://data/train/b.jsonl", store))
    assert [n for n, _ in one] == [1] and isinstance(one[0][1], ConversationRecord)
    for prefix in ("s3://data/train", "s3://data/train/"):
        items = list(read_source(prefix, store))
        assert [(getattr(item, "file", None), n) for n, item in items] == [
            ("a.jsonl", 1),
            (None, 2),
            (None, 1),
        ]
    records, report = validate_path("s3://data/train", store=store)
    assert len(records) == 2 and report.invalid[0].file == "a.jsonl"
    with pytest.raises(NotFoundError, match="s3://data/nothing"):
        list(read_source("s3://data/nothing", store))
