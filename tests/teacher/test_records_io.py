"""Prompt files read line by line, stable ids, and fsync'd appends."""

from __future__ import annotations

import pytest
from tests.teacher.helpers import labelled_record, mix_answer, prompt_record

from stillhouse.errors import DatasetError
from stillhouse.records.validate import require_at_most
from stillhouse.sources.dataset import read_dataset
from stillhouse.teacher.records_io import JsonlAppender, assign_ids, input_failures, prompt_hash


def test_bad_lines_are_reported_with_line_and_field(mixed_dataset, mixed_dataset_expected) -> None:
    records, read = read_dataset(mixed_dataset, "distillation", "report")  # as `stillhouse label` reads
    rejected = input_failures(read.invalid)
    assert len(records) == 120 and len(read.kept_lines) == 120
    assert [f.line for f in rejected] == [line for line, _, _ in mixed_dataset_expected]
    for failure, (_, field, words) in zip(rejected, mixed_dataset_expected, strict=True):
        assert field in failure.reason and words in failure.reason
    assert 3 not in read.kept_lines and read.kept_lines[:3] == [1, 2, 4]


def test_oversize_files_are_refused(mixed_dataset) -> None:
    _, read = read_dataset(mixed_dataset, "distillation", "report")
    with pytest.raises(DatasetError, match="at most 50"):
        require_at_most(read, 50)


def test_a_prompt_and_its_labelled_pair_share_an_id() -> None:
    assert prompt_hash(prompt_record("q")) == prompt_hash(labelled_record("q", mix_answer(0.5)))
    assert prompt_hash(prompt_record("q")) != prompt_hash(prompt_record("q", system="s"))
    ids = assign_ids([prompt_record("q"), prompt_record("r"), prompt_record("q")])
    assert ids[2] == ids[0] + ".2" and len(set(ids)) == 3


def test_appender_appends_whole_lines(tmp_path) -> None:
    path = tmp_path / "x.jsonl"
    with JsonlAppender(path) as out:
        out.write('{"a": 1}')
    with JsonlAppender(path) as out:
        out.write('{"b": 2}\n')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'
    with JsonlAppender(path, truncate=True) as out:
        out.write("{}")
    assert path.read_text() == "{}\n"


def test_input_failures_give_one_entry_per_refused_line() -> None:
    from stillhouse.records.rules import RecordProblem

    problems = [
        RecordProblem(line=3, field="a", reason="x", rule="r"),
        RecordProblem(line=3, field="b", reason="y", rule="r"),
        RecordProblem(line=3, field="c", reason="z", rule="r", file="other.jsonl"),
    ]
    failures = input_failures(problems)
    assert [(f.line, f.reason) for f in failures] == [
        (3, "invalid record: a: x; b: y"),
        (3, "invalid record: c: z"),
    ]
