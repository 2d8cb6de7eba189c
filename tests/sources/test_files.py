"""Sources: a JSONL file, a folder of them, and the same under s3:// (local store), read by read_dataset."""

from __future__ import annotations

import json

import pytest

from stillhouse.errors import NotFoundError
from stillhouse.sources.dataset import read_dataset
from stillhouse.sources.files import iter_source_lines
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
    records, report = read_dataset(tmp_path, "none", "skip")
    assert report.kept_lines == [1, 1] and [(p.file, p.line) for p in report.invalid] == [("1.jsonl", 3)]
    assert [r.messages[0].text for r in records] == ["first", "second"]


def test_single_file_problems_carry_no_file_name(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text("{broken\n")
    records, report = read_dataset(path, "none", "skip")
    [problem] = report.invalid
    assert not records and problem.line == 1 and problem.file is None


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
    one, report = read_dataset("s3://data/train/b.jsonl", "none", "skip", store=store)
    assert len(one) == 1 and report.kept_lines == [1] and not report.invalid
    for prefix in ("s3://data/train", "s3://data/train/"):
        records, report = read_dataset(prefix, "none", "skip", store=store)
        assert [(p.file, p.line) for p in report.invalid] == [("a.jsonl", 1)]
        assert report.kept_lines == [2, 1] and [r.messages[0].text for r in records] == ["a", "b"]
    records, report = read_dataset("s3://data/train", store=store)
    assert len(records) == 2 and report.invalid[0].file == "a.jsonl"
    with pytest.raises(NotFoundError, match="s3://data/nothing"):
        read_dataset("s3://data/nothing", "none", "skip", store=store)
