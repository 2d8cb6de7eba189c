"""`check_invocation_logs`: invocation logs validated as a job reads them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from stillhouse.errors import NotFoundError
from stillhouse.records.rules import PROFILES
from stillhouse.sources.log_check import check_invocation_logs

LAYOUT = "AWSLogs/000000000000/BedrockModelInvocationLogs/us-east-1/2026/11/20/10"


def log_line(text: str, *, turns: int = 1, answer: str = "an answer") -> str:
    messages = []
    for i in range(turns):
        messages.append({"role": "user", "content": [{"text": f"{text} ({i})" if i else text}]})
        if i < turns - 1:
            messages.append({"role": "assistant", "content": [{"text": "ok"}]})
    return json.dumps(
        {
            "schemaType": "ModelInvocationLog",
            "schemaVersion": "1.0",
            "timestamp": "2026-11-20T10:00:00Z",
            "requestId": "r",
            "operation": "Converse",
            "modelId": "amazon.nova-pro-v1:0",
            "input": {"inputBodyJson": {"messages": messages}},
            "output": {"outputBodyJson": {"output": {"message": {"content": [{"text": answer}]}}}},
        }
    )


def write_logs(root: Path, lines: list[str], name: str = "a.json.gz") -> Path:
    folder = root / "logs" / LAYOUT
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return root / "logs"


def test_good_logs_pass_as_a_job_would_read_them(tmp_path: Path) -> None:
    root = write_logs(tmp_path, [log_line(f"query {i}") for i in range(120)])
    checked = check_invocation_logs(root)
    assert checked.usable and checked.records.valid == 120 and checked.logs.kept == 120
    with_answers = check_invocation_logs(root, use_prompt_response=True)
    assert with_answers.records.valid == 120


def test_multi_turn_logs_are_refused_for_a_llama_student(tmp_path: Path) -> None:
    root = write_logs(tmp_path, [log_line(f"q{i}", turns=2) for i in range(3)])
    assert check_invocation_logs(root).records.valid == 3
    llama = PROFILES["distillation"].for_student("meta.llama3-1-8b-instruct-v1:0:128k")
    checked = check_invocation_logs(root, llama)
    assert checked.records.valid == 0 and checked.records.by_rule == {"single-turn": 3}
    assert checked.records.invalid[0].file.endswith("a.json.gz")


def test_bad_log_objects_and_lines_are_reported(tmp_path: Path) -> None:
    root = write_logs(tmp_path, [log_line("fine"), "{not json", log_line("User: hi")])
    (root / LAYOUT / "plain.json.gz").write_text(log_line("not compressed"))
    checked = check_invocation_logs(root)
    reasons = [p.reason for p in checked.logs.problems]
    assert any("named .gz but not gzip-compressed" in r for r in reasons)
    assert [p.line for p in checked.logs.problems if p.line] == [2]
    assert checked.records.by_rule == {"reserved-string": 1} and checked.records.valid == 1
    assert not checked.usable


def test_logs_in_the_object_store(tmp_path: Path) -> None:
    from stillhouse.sources.objectstore import LocalObjectStore

    store = LocalObjectStore(tmp_path / "s3")
    store.put_bytes(f"s3://b/p/{LAYOUT}/x.json.gz", gzip.compress(log_line("q").encode()))
    store.put_bytes("s3://b/p/AWSLogs/000000000000/BedrockModelInvocationLogs/check", b"permission check")
    checked = check_invocation_logs("s3://b/p/AWSLogs", store=store)
    assert checked.logs.files == 1 and checked.records.valid == 1


def test_no_logs_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for location in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(NotFoundError):
            check_invocation_logs(location)
