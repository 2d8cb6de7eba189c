"""The invocation-log source: the record type, requestMetadataFilters, and logs -> records."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.sources.invocation_logs import (
    InvocationLogRecord,
    InvocationLogsConfig,
    body_to_record,
    parse_filters,
    read_invocation_logs,
    records_from_logs,
)

TEACHER = "qwen2.5-coder-1.5b"


def converse_log(
    prompt: str, answer: str, *, model: str = TEACHER, meta: dict | None = None, n: int = 0
) -> dict:
    return {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-11-20T10:00:00Z",
        "requestId": f"req-{n}",
        "operation": "Converse",
        "modelId": model,
        "requestMetadata": meta or {},
        "input": {
            "inputContentType": "application/json",
            "inputTokenCount": 5,
            "inputBodyJson": {
                "system": [{"text": "Route the query."}],
                "messages": [{"role": "user", "content": [{"text": prompt}]}],
                "inferenceConfig": {"maxTokens": 100},
            },
        },
        "output": {
            "outputContentType": "application/json",
            "outputTokenCount": 7,
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12},
            },
        },
    }


def config(use_prompt_response: bool = False, filters: dict | None = None) -> InvocationLogsConfig:
    return InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": use_prompt_response,
            "invocationLogSource": {"s3Uri": "s3://logs/bedrock/"},
            **({"requestMetadataFilters": filters} if filters else {}),
        }
    )


def as_object(*logs: dict) -> tuple[str, bytes]:
    return "s3://logs/bedrock/2026/11/20/10/a.json.gz", gzip.compress(
        "\n".join(map(json.dumps, logs)).encode()
    )


# ------------------------------------------------------------------------------------------ filters

META = {"project": "router", "env": "prod"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"equals": {"project": "router"}}, True),
        ({"equals": {"project": "search"}}, False),
        ({"notEquals": {"env": "prod"}}, False),
        ({"notEquals": {"team": "x"}}, True),  # a missing key is not equal
        ({"andAll": [{"equals": {"project": "router"}}, {"notEquals": {"env": "dev"}}]}, True),
        ({"andAll": [{"equals": {"project": "router"}}, {"equals": {"env": "dev"}}]}, False),
        ({"orAll": [{"equals": {"project": "search"}}, {"equals": {"env": "prod"}}]}, True),
        ({"orAll": [{"equals": {"project": "search"}}, {"equals": {"env": "dev"}}]}, False),
    ],
)
def test_filters_select_by_request_metadata(raw: dict, expected: bool) -> None:
    assert parse_filters(raw).matches(META) is expected


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"equals": {"a": "1", "b": "2"}}, "exactly one key"),
        ({"equals": {"a": "1"}, "notEquals": {"b": "2"}}, "exactly one of"),
        ({}, "exactly one of"),
        ({"andAll": []}, "at least 1"),
        ({"orAll": [{"equals": {"k": str(i)}} for i in range(17)]}, "at most 16"),
        ({"andAll": [{"andAll": [{"equals": {"a": "1"}}]}]}, "Extra inputs"),  # one level of nesting only
        ({"orAll": [{}]}, "needs 'equals' or 'notEquals'"),
        ({"startsWith": {"a": "1"}}, "Extra inputs"),
    ],
)
def test_bad_filters_are_refused_with_a_clear_error(raw: dict, words: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        parse_filters(raw)
    assert words in str(err.value)
    assert err.value.field.startswith("requestMetadataFilters")


def test_sixteen_base_filters_are_allowed() -> None:
    filters = parse_filters({"orAll": [{"equals": {"k": str(i)}} for i in range(16)]})
    assert filters.matches({"k": "15"}) and not filters.matches({"k": "16"})


# ------------------------------------------------------------------------------------------- reader


def test_prompt_only_keeps_prompts_from_any_model() -> None:
    logs = [converse_log("dogs barking", "A", n=1), converse_log("sunset", "B", model="other-model", n=2)]
    records, report = records_from_logs([as_object(*logs)], config(False), teacher_model_id=TEACHER)
    assert [r.messages[-1].text for r in records] == ["dogs barking", "sunset"]
    assert not any(r.is_labelled for r in records)
    assert records[0].system_text == "Route the query."
    assert report.kept == 2 and report.lines == 2 and report.files == 1


def test_prompt_response_keeps_answers_only_from_the_teacher() -> None:
    logs = [converse_log("dogs barking", "audio!", n=1), converse_log("sunset", "B", model="other", n=2)]
    records, report = records_from_logs([as_object(*logs)], config(True), teacher_model_id=TEACHER)
    assert len(records) == 1 and records[0].answer == "audio!"
    assert report.kept == 1 and report.other_model == 1


def test_filters_apply_and_every_bad_line_is_reported() -> None:
    logs = [
        converse_log("a", "x", meta={"project": "router"}, n=1),
        converse_log("b", "y", meta={"project": "s"}, n=2),
    ]
    name, data = "s3://logs/p/x.json", ("\n".join(map(json.dumps, logs)) + "\n{not json\n").encode()
    records, report = records_from_logs(
        [(name, data)], config(False, {"equals": {"project": "router"}}), teacher_model_id=None
    )
    assert [r.messages[0].text for r in records] == ["a"]
    assert report.filtered_out == 1
    assert [(p.file, p.line) for p in report.problems] == [(name, 3)]


def test_chat_completions_and_invoke_model_bodies_convert() -> None:
    openai = body_to_record(
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                    ],
                },
            ],
        },
        {"choices": [{"message": {"role": "assistant", "content": "hello"}}]},
    )
    assert openai.system_text == "sys" and openai.answer == "hello"
    assert openai.messages[0].images[0].format == "png"
    anthropic = body_to_record(
        {"system": "s", "messages": [{"role": "user", "content": "q"}], "max_tokens": 9},
        {"content": [{"type": "text", "text": "a"}]},
    )
    assert anthropic.answer == "a" and anthropic.system_text == "s"
    llama = body_to_record({"prompt": "tell me"}, {"generation": "ok"})
    assert llama.messages[0].text == "tell me" and llama.answer == "ok"
    with pytest.raises(ValueError, match="no messages"):
        body_to_record({"foo": 1})


def test_record_round_trips_as_one_json_line() -> None:
    log = InvocationLogRecord(
        timestamp=datetime(2026, 11, 20, tzinfo=UTC),
        requestId="r",
        operation="Converse",
        modelId=TEACHER,
        input={"inputBodyJson": {"messages": []}},
    )
    line = log.to_json_line()
    assert "\n" not in line and InvocationLogRecord.model_validate_json(line) == log
    with pytest.raises(ValueError):
        InvocationLogRecord.model_validate({**json.loads(line), "surprise": 1})


def test_reads_gzipped_hourly_folders_from_the_object_store(stillhouse_home) -> None:
    from stillhouse.sources.objectstore import open_store

    store = open_store()
    for hour, prompt in (("10", "first"), ("11", "second")):
        _, data = as_object(converse_log(prompt, "x"))
        store.put_bytes(f"s3://logs/bedrock/2026/11/20/{hour}/part-0.json.gz", data)
    store.put_bytes("s3://logs/bedrock/README.txt", b"not a log")
    records, report = read_invocation_logs(config(False), teacher_model_id=None, store=store)
    assert [r.messages[0].text for r in records] == ["first", "second"]
    assert report.files == 2


def test_log_objects_walk_bedrocks_layout_in_time_order() -> None:
    from stillhouse.sources.invocation_logs import log_objects

    base = "s3://b/p/AWSLogs"
    uris = [
        f"{base}/111111111111/BedrockModelInvocationLogs/us-west-2/2026/11/20/11/b.json.gz",
        f"{base}/000000000000/BedrockModelInvocationLogs/us-east-1/2026/11/20/12/c.json.gz",
        f"{base}/000000000000/BedrockModelInvocationLogs/us-east-1/2026/11/20/10/a.json.gz",
        f"{base}/000000000000/BedrockModelInvocationLogs/amazon-bedrock-logs-permission-check",
        f"{base}/000000000000/CloudTrail/us-east-1/2026/11/20/x.json.gz",
    ]
    assert [u.rsplit("/", 1)[1] for u in log_objects(uris)] == ["a.json.gz", "b.json.gz", "c.json.gz"]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("x.json.gz", b"\x1f\x8b\x08\x00garbage", "not a readable gzip file"),
        ("x.json.gz", b'{"schemaType": "ModelInvocationLog"}\n', "named .gz but not gzip-compressed"),
        ("x.json", b"\xff\xfe{}", "not UTF-8 text"),
    ],
)
def test_an_unreadable_log_object_is_a_problem_not_a_crash(name: str, data: bytes, reason: str) -> None:
    from stillhouse.sources.invocation_logs import InvocationLogsConfig, records_from_logs

    config = InvocationLogsConfig.model_validate({"invocationLogSource": {"s3Uri": "s3://b/p/"}})
    records, report = records_from_logs([(name, data)], config, teacher_model_id=None)
    assert records == [] and len(report.problems) == 1
    assert report.problems[0].line == 0 and reason in report.problems[0].reason
