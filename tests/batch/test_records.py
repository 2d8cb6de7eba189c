"""The lines of a batch file: every body dialect read, every bad line an error line (pure)."""

from __future__ import annotations

import json

import pytest

from stillhouse.batch.records import model_output, output_line, parse_line
from stillhouse.chat import Completion

from .helpers import converse_input, nova_input


def test_a_native_nova_body_is_an_invoke_call() -> None:
    record = parse_line(0, json.dumps({"recordId": "a", "modelInput": nova_input("hello there")}), None, 512)
    assert record.error is None and record.call is not None and not record.call.converse
    assert record.call.messages[-1].content == "hello there" and record.call.params.max_tokens == 8


def test_a_converse_body_is_read_as_converse_when_the_job_says_so() -> None:
    line = json.dumps({"recordId": "a", "modelInput": converse_input("hi")})
    record = parse_line(0, line, "Converse", 512)
    assert record.call is not None and record.call.converse and record.call.params.max_tokens == 8
    # Bedrock's default is InvokeModel, and Nova's native body reads maxTokens too.
    record = parse_line(0, line, None, 512)
    assert record.call is not None and not record.call.converse and record.call.params.max_tokens == 8


def test_a_converse_only_body_falls_back_to_converse_unless_the_job_says_invoke() -> None:
    body = {**converse_input("hi"), "requestMetadata": {"team": "search"}}  # Converse has it, Nova not
    line = json.dumps({"recordId": "a", "modelInput": body})
    record = parse_line(0, line, None, 512)
    assert record.call is not None and record.call.converse
    refused = parse_line(0, line, "InvokeModel", 512)
    assert refused.call is None and "requestMetadata" in (refused.error or "")


def test_an_anthropic_body_keeps_its_system_prompt_and_cap() -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 3,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hi"}],
    }
    record = parse_line(0, json.dumps({"recordId": "a", "modelInput": body}), None, 512)
    assert record.call is not None and [m.role for m in record.call.messages] == ["system", "user"]
    assert record.call.params.max_tokens == 3


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        (json.dumps({"recordId": "a"}), "modelInput"),
        (json.dumps(["a", "list"]), "modelInput"),
        (json.dumps({"recordId": "a", "modelInput": "text"}), "JSON object"),
        (json.dumps({"recordId": "a", "modelInput": {"messages": []}}), "messages"),
        (json.dumps({"recordId": "a", "modelInput": {"prompt": ""}}), "prompt"),
        (json.dumps({"recordId": "a", "modelInput": {**nova_input("x"), "toolConfig": {}}}), "toolConfig"),
    ],
)
def test_each_unreadable_line_is_an_error_record(line: str, reason: str) -> None:
    record = parse_line(4, line, None, 512)
    assert record.call is None and reason in (record.error or ""), record.error


def test_a_record_without_an_id_gets_one_from_its_position() -> None:
    record = parse_line(6, json.dumps({"modelInput": nova_input("x")}), None, 512)
    assert record.record_id == "00000000007"


def test_output_lines_carry_the_input_and_either_the_answer_or_the_error() -> None:
    record = parse_line(0, json.dumps({"recordId": "r1", "modelInput": converse_input("hi")}), None, 512)
    assert record.call is not None
    completion = Completion(text="hello", model="m", input_tokens=2, output_tokens=1)
    ok = json.loads(output_line(record, model_output(record.call, completion, "m"), None))
    assert ok["recordId"] == "r1" and ok["modelInput"] == converse_input("hi")
    assert ok["modelOutput"]["output"]["message"]["content"] == [{"text": "hello"}]
    assert ok["modelOutput"]["usage"] == {"inputTokens": 2, "outputTokens": 1, "totalTokens": 3}
    failed = json.loads(output_line(record, None, (424, "model failed")))
    assert (
        failed["error"] == {"errorCode": 424, "errorMessage": "model failed"} and "modelOutput" not in failed
    )


def test_the_aws_recipes_invoke_body_is_read_as_nova() -> None:
    # 01_citations/01_prepare_data builds batch records this way (camelCase inferenceConfig, topK,
    # an empty system list), and 03_batch_inference sends them unchanged.
    body = {
        "system": [],
        "messages": [{"role": "user", "content": [{"text": "<context>c</context> <question>q</question>"}]}],
        "inferenceConfig": {"temperature": 0.1, "topP": 0.9, "topK": 50, "stopSequences": ["</answer>"]},
    }
    record = parse_line(0, json.dumps({"recordId": "id-1", "modelInput": body}), None, 512)
    assert record.call is not None and not record.call.converse, record.error
    params = record.call.params
    assert (params.temperature, params.top_p, params.stop, params.max_tokens) == (
        0.1,
        0.9,
        ("</answer>",),
        512,
    )
