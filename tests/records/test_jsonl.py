"""The JSONL line parser and writer: shape problems, atomic writes."""

from __future__ import annotations

import json
import os
import stat

import pytest

from stillhouse.records.jsonl import field_path, parse_record, write_records
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
    problems = parse_record(raw, 7)
    assert isinstance(problems, list)
    problem = problems[0]
    assert isinstance(problem, RecordProblem)
    assert (problem.line, problem.field) == (7, field)
    assert words in problem.reason


def test_parse_record_reports_every_shape_problem_of_a_line():
    raw = '{"schemaVersion": "x", "messages": [{"role": "user", "content": [{"text": "a", "imag": 1}]}], "b": 2}'
    problems = parse_record(raw, 1)
    assert isinstance(problems, list)
    assert {p.field for p in problems} == {"schemaVersion", "messages[0].content[0].imag", "b"}


def test_missing_schema_version_is_filled_in():
    record = parse_record(b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}', 1)
    assert isinstance(record, ConversationRecord)
    assert json.loads(record.to_json())["schemaVersion"] == "bedrock-conversation-2024"


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


def test_gzip_input_says_it_is_gzip() -> None:
    import gzip

    (problem,) = parse_record(gzip.compress(b'{"schemaVersion": "bedrock-conversation-2024"}\n'), 1)
    assert (
        problem.rule == "gzip"
        and "gzip-compressed" in problem.reason
        and "--invocation-logs" in problem.reason
    )


def test_cr_only_line_endings_are_named() -> None:
    record = '{"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", "content": [{"text": "a"}]}]}'
    (problem,) = parse_record((record + "\r" + record).encode(), 1)
    assert problem.rule == "line-endings" and "CR-only line endings" in problem.reason


@pytest.mark.parametrize("escape", ["\\ud83d", "\\ude00", "\\ud83d\\u0041"])
def test_lone_surrogates_are_named(escape: str) -> None:
    line = '{"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", "content": [{"text": "hi %s"}]}]}'
    (problem,) = parse_record(line % escape, 1)
    assert problem.rule == "surrogate" and "lone UTF-16 surrogate" in problem.reason


def test_an_escaped_surrogate_pair_is_text() -> None:
    line = '{"schemaVersion": "bedrock-conversation-2024", "messages": [{"role": "user", "content": [{"text": "hi \\ud83d\\ude00"}]}]}'
    record = parse_record(line, 1)
    assert not isinstance(record, list) and record.messages[0].content[0].text == "hi \U0001f600"
