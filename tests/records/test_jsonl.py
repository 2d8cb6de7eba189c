"""Streaming JSONL reader/writer: shape problems, round trips, memory."""

from __future__ import annotations

import inspect
import json
import os
import stat
import tracemalloc

import pytest

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.records.jsonl import field_path, parse_line, parse_record, read_records, write_records
from stillhouse.records.rules import RecordProblem
from stillhouse.records.schema import ConversationRecord


def _labelled(i: int) -> dict:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Route the query."}],
        "messages": [
            {"role": "user", "content": [{"text": f"query {i} ünïcödé 🎬"}]},
            {"role": "assistant", "content": [{"text": '{"visual": 1.0}'}]},
        ],
    }


def test_field_path_formats_pydantic_locations():
    assert field_path(("messages", 0, "content", 2, "image")) == "messages[0].content[2].image"
    assert field_path(()) == "record"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"messages": [', "record", "invalid JSON"),
        (b"[1, 2]", "record", "expected a JSON object, got array"),
        (b'"text"', "record", "got string"),
        (b"null", "record", "got null"),
        (b"\xff\xfe{}", "record", "not valid UTF-8"),
        (b'{"schemaVersion": "v2", "messages": []}', "schemaVersion", "must be 'bedrock-conversation-2024'"),
        (b'{"messages": [], "labels": 1}', "labels", "unknown field"),
        (b'{"system": []}', "messages", "required field is missing"),
        (b'{"messages": [{"role": "user", "content": [{}]}]}', "messages[0].content[0]", "exactly one of"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "messages[0].content", "must be a list"),
    ],
)
def test_shape_problems_are_reported_not_raised(raw, field, words):
    problem = parse_line(raw, 7)
    assert isinstance(problem, RecordProblem)
    assert (problem.line, problem.field) == (7, field)
    assert words in problem.reason


def test_parse_record_reports_every_shape_problem_of_a_line():
    raw = '{"schemaVersion": "x", "messages": [{"role": "user", "content": [{"text": "a", "imag": 1}]}], "b": 2}'
    problems = parse_record(raw, 1)
    assert isinstance(problems, list)
    assert {p.field for p in problems} == {"schemaVersion", "messages[0].content[0].imag", "b"}


def test_missing_schema_version_is_filled_in():
    record = parse_line(b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}', 1)
    assert isinstance(record, ConversationRecord)
    assert json.loads(record.to_json())["schemaVersion"] == "bedrock-conversation-2024"


def test_reader_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(_labelled(0)).encode()
        + b"\n\n   \n{bad\r\n"
        + json.dumps(_labelled(1)).encode()
    )
    items = list(read_records(path))
    assert [n for n, _ in items] == [1, 4, 5]
    assert isinstance(items[0][1], ConversationRecord)  # the BOM is not part of the record
    assert isinstance(items[1][1], RecordProblem)
    assert isinstance(items[2][1], ConversationRecord)  # no trailing newline is fine


def test_round_trip_read_write_read(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(_labelled(i)) for i in range(50)) + "\n", encoding="utf-8")
    first = [r for _, r in read_records(source)]
    assert write_records(tmp_path / "out.jsonl", first) == 50
    second = [r for _, r in read_records(tmp_path / "out.jsonl")]
    assert first == second
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()] == [
        _labelled(i) for i in range(50)
    ]


def test_write_is_atomic_when_the_input_fails(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old\n")

    def records():
        yield ConversationRecord.model_validate(_labelled(0))
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError):
        write_records(path, records())
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]  # no temporary left behind


def test_reader_errors_name_the_path(tmp_path):
    with pytest.raises(NotFoundError, match="missing.jsonl"):
        list(read_records(tmp_path / "missing.jsonl"))
    with pytest.raises(InvalidInputError, match="folder"):
        list(read_records(tmp_path))


def test_reader_streams_a_15000_record_file(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps(_labelled(0))
    path.write_text((line + "\n") * 15_000, encoding="utf-8")
    reader = read_records(path)
    assert inspect.isgenerator(reader)
    tracemalloc.start()
    count = sum(1 for _ in reader)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 15_000
    # Holding the records would take several MB (and the file itself is ~3 MB); streaming stays tiny.
    assert peak < path.stat().st_size / 10, f"peak {peak} bytes for a {path.stat().st_size}-byte file"


def test_written_files_get_the_umask_permissions_not_owner_only(tmp_path):
    """mkstemp creates 0600; a generated prompts.jsonl must be as readable as every other file."""
    old = os.umask(0o022)
    try:
        write_records(tmp_path / "prompts.jsonl", [ConversationRecord.model_validate(_labelled(0))])
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "prompts.jsonl").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644
