"""Wire models and converters (pure): Converse, InvokeModel dialects, OpenAI chat, error shapes."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from stillhouse.chat import Completion
from stillhouse.errors import (
    AccessDeniedError,
    IncompleteSignatureError,
    InvalidApiKeyError,
    InvalidInputError,
    InvalidSignatureError,
    MissingApiKeyError,
    MissingAuthenticationTokenError,
    ModelNotReadyError,
    StillhouseError,
    UnrecognizedClientError,
)
from stillhouse.serve import bedrock_protocol as bp
from stillhouse.serve import openai_protocol as op
from stillhouse.serve.errors import bedrock_error, describe_validation_error, openai_error

DONE = Completion(text="{}", model="m", input_tokens=5, output_tokens=2, stop_reason="max_tokens")


def test_converse_to_domain_and_back() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    req = bp.ConverseRequest.model_validate(
        {
            "system": [{"text": "route"}],
            "messages": [
                {
                    "role": "user",
                    "content": [{"text": "look "}, {"image": {"format": "png", "source": {"bytes": png}}}],
                },
                {"role": "assistant", "content": [{"text": "ok"}]},
                {"role": "user", "content": [{"text": "again"}]},
            ],
            "inferenceConfig": {"maxTokens": 7, "temperature": 0.5, "stopSequences": ["}"]},
            "requestMetadata": {"use_case": "router"},
        }
    )
    messages, params = bp.converse_to_domain(req, default_max_tokens=99)
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1].images[0].data == b"\x89PNG" and messages[1].content == "look "
    assert (params.max_tokens, params.temperature, params.top_p, params.stop) == (7, 0.5, 1.0, ("}",))
    out = bp.converse_response(DONE, 12.4).model_dump()
    assert (
        out["stopReason"] == "max_tokens"
        and out["usage"]["totalTokens"] == 7
        and out["metrics"]["latencyMs"] == 12
    )


def test_converse_defaults_and_refusals() -> None:
    req = bp.ConverseRequest.model_validate({"messages": [{"role": "user", "content": [{"text": "x"}]}]})
    assert bp.converse_to_domain(req, default_max_tokens=64)[1].max_tokens == 64
    for bad in (
        {"messages": []},
        {"messages": [{"role": "user", "content": [{"text": "x", "image": None}], "extra": 1}]},
        {"messages": [{"role": "user", "content": [{"document": {}}]}]},
        {"messages": [{"role": "user", "content": [{"text": "x"}]}], "requestMetadata": {"": "v"}},
    ):
        with pytest.raises(ValidationError):
            bp.ConverseRequest.model_validate(bad)


def test_invoke_dialects_round_trip() -> None:
    nova = bp.parse_invoke_body(
        {
            "messages": [{"role": "user", "content": [{"text": "q"}]}],
            "inferenceConfig": {"max_new_tokens": 3, "top_p": 0.5},
        }
    )
    anthropic = bp.parse_invoke_body(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 4,
            "system": "s",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
        }
    )
    llama = bp.parse_invoke_body({"prompt": "q", "max_gen_len": 5})
    got = {type(r).__name__: bp.invoke_to_domain(r, default_max_tokens=9) for r in (nova, anthropic, llama)}
    assert got["NovaInvokeRequest"][1].max_tokens == 3 and got["NovaInvokeRequest"][1].top_p == 0.5
    assert [m.role for m in got["AnthropicInvokeRequest"][0]] == ["system", "user"]
    assert got["LlamaInvokeRequest"][0][0].content == "q"
    assert bp.invoke_response(llama, DONE, "m")["stop_reason"] == "length"
    assert bp.invoke_response(anthropic, DONE, "m")["content"] == [{"type": "text", "text": "{}"}]
    assert bp.invoke_response(nova, DONE, "m")["output"]["message"]["content"][0]["text"] == "{}"


def test_request_metadata_header() -> None:
    assert bp.parse_request_metadata_header('{"use_case": "router"}') == {"use_case": "router"}
    assert bp.parse_request_metadata_header(None) is None
    for bad in ("use_case=router", '["x"]', '{"k": 1}'):
        with pytest.raises(InvalidInputError):
            bp.parse_request_metadata_header(bad)


def test_openai_request_to_domain() -> None:
    img = "data:image/png;base64," + base64.b64encode(b"img").decode()
    req = op.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "max_completion_tokens": 11,
            "stop": "\n",
            "seed": 3,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": img}},
                    ],
                },
                {"role": "developer", "content": "be brief"},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}},
            },
        }
    )
    messages, params = req.to_domain(default_max_tokens=100)
    assert [m.role for m in messages] == ["system", "user"] and messages[1].images[0].data == b"img"
    assert (params.max_tokens, params.stop, params.seed, params.json_schema) == (
        11,
        ("\n",),
        3,
        {"type": "object"},
    )
    json_object = op.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_object"},
        }
    )
    assert json_object.to_domain(default_max_tokens=1)[1].json_schema == {"type": "object"}


def test_openai_refuses_remote_images_and_stream_options_without_streaming() -> None:
    req = op.ChatCompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}],
                }
            ],
        }
    )
    with pytest.raises(InvalidInputError, match="data: URLs"):
        req.to_domain(default_max_tokens=1)
    for stream in (None, False):  # OpenAI's own refusal, in its words
        with pytest.raises(ValidationError, match="only allowed when 'stream' is enabled") as info:
            op.ChatCompletionRequest.model_validate(
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "x"}],
                    "stream_options": {"include_usage": True},
                    **({} if stream is None else {"stream": stream}),
                }
            )
        assert info.value.errors()[0]["loc"] == ("stream_options",)
    with pytest.raises(ValidationError):
        op.ChatCompletionRequest.model_validate(
            {
                "model": "m",
                "stream": True,
                "stream_options": {"chunk": 1},
                "messages": [{"role": "user", "content": "x"}],
            }
        )


def test_openai_stream_chunks() -> None:
    chunks = op.ChatCompletionChunks("m", include_usage=True)
    objects = [*chunks.start(), *chunks.delta("hi"), *chunks.end(DONE)]
    assert {o["object"] for o in objects} == {"chat.completion.chunk"} and len(
        {o["id"] for o in objects}
    ) == 1
    assert objects[0]["choices"][0]["delta"]["role"] == "assistant"
    assert objects[1]["choices"][0]["delta"] == {"content": "hi"}
    assert objects[2]["choices"][0]["finish_reason"] == "length"
    assert [o["usage"] for o in objects[:3]] == [None, None, None]
    assert objects[3]["choices"] == [] and objects[3]["usage"]["total_tokens"] == 7
    assert "usage" not in op.ChatCompletionChunks("m").start()[0]


def test_openai_response_shape() -> None:
    out = op.chat_completion_response(DONE, "my-model").model_dump()
    assert out["object"] == "chat.completion" and out["model"] == "my-model"
    assert out["choices"][0]["finish_reason"] == "length" and out["usage"]["total_tokens"] == 7


@pytest.mark.parametrize(
    ("exc", "status", "code", "oai_type"),
    [
        (AccessDeniedError("no"), 403, "AccessDeniedException", "permission_error"),
        (InvalidSignatureError("no"), 403, "InvalidSignatureException", "permission_error"),
        (UnrecognizedClientError("no"), 403, "UnrecognizedClientException", "permission_error"),
        (IncompleteSignatureError("no"), 400, "IncompleteSignatureException", "invalid_request_error"),
        (
            MissingAuthenticationTokenError("no"),
            403,
            "MissingAuthenticationTokenException",
            "permission_error",
        ),
        (InvalidInputError("bad", field="x"), 400, "ValidationException", "invalid_request_error"),
        (ModelNotReadyError("wait"), 429, "ModelNotReadyException", "rate_limit_error"),
        (RuntimeError("secret internals"), 500, "InternalServerException", "server_error"),
        (ValueError("nope"), 400, "ValidationException", "invalid_request_error"),
    ],
)
def test_one_translation_two_dialects(exc: Exception, status: int, code: str, oai_type: str) -> None:
    b = bedrock_error(exc)
    assert b.status_code == status and b.headers["x-amzn-ErrorType"].split(":")[0] == code
    assert "secret internals" not in b.body.decode()
    o = openai_error(exc)
    body = json.loads(o.body)["error"]
    assert o.status_code == status and body["type"] == oai_type and body["code"] == code


@pytest.mark.parametrize(
    ("exc", "code"), [(MissingApiKeyError("none"), None), (InvalidApiKeyError("wrong"), "invalid_api_key")]
)
def test_openai_key_refusals_carry_openais_codes(exc: Exception, code: str | None) -> None:
    """OpenAI: no key at all is code null, a wrong key ``invalid_api_key``; both 401."""
    o = openai_error(exc)
    body = json.loads(o.body)["error"]
    assert o.status_code == 401 and body["code"] == code and body["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "exc",
    [
        InvalidSignatureError("a"),
        UnrecognizedClientError("b"),
        IncompleteSignatureError("c"),
        MissingAuthenticationTokenError("d"),
    ],
)
def test_sigv4_refusals_have_the_bedrock_body(exc: Exception) -> None:
    assert json.loads(bedrock_error(exc).body) == {"message": str(exc)}


def test_validation_errors_name_the_field() -> None:
    try:
        bp.ConverseRequest.model_validate({"messages": [{"role": "robot", "content": [{"text": "x"}]}]})
    except ValidationError as exc:
        err = describe_validation_error(exc)
    assert isinstance(err, StillhouseError) and err.field == "messages.0.role"


def _output_config(schema: str, kind: str = "json_schema") -> dict[str, object]:
    return {"textFormat": {"type": kind, "structure": {"jsonSchema": {"schema": schema, "name": "r"}}}}


def test_converse_output_config_becomes_the_decoding_schema() -> None:
    from stillhouse.serve import bedrock_protocol as bp

    body = {
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
        "outputConfig": _output_config('{"type": "object"}'),
    }
    req = bp.ConverseRequest.model_validate(body)
    _, params = bp.converse_to_domain(req, default_max_tokens=8)
    assert params.json_schema == {"type": "object"}
    assert (
        req.model_dump(mode="json", exclude_none=True, by_alias=True)["outputConfig"] == body["outputConfig"]
    )


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        (_output_config("{not json"), "not valid JSON"),
        (_output_config("[1, 2]"), "must be a JSON object"),
        (_output_config("{}", kind="xml"), "json_schema"),
        ({"textFormat": {"type": "json_schema", "structure": {}}}, "jsonSchema"),
        ({"effort": "high"}, "effort"),
    ],
)
def test_bad_output_configs_are_refused(config: dict[str, object], problem: str) -> None:
    from pydantic import ValidationError

    from stillhouse.errors import InvalidInputError
    from stillhouse.serve import bedrock_protocol as bp

    body = {"messages": [{"role": "user", "content": [{"text": "q"}]}], "outputConfig": config}
    with pytest.raises((ValidationError, InvalidInputError), match=problem):
        bp.converse_to_domain(bp.ConverseRequest.model_validate(body), default_max_tokens=8)


def test_nova_bodies_read_the_camel_case_spelling_too() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 7, "topP": 0.4, "topK": 20, "temperature": 0.2},
    }
    req = bp.parse_invoke_body(body)
    assert isinstance(req, bp.NovaInvokeRequest)
    _, params = bp.invoke_to_domain(req, default_max_tokens=99)
    assert (params.max_tokens, params.top_p, params.temperature) == (7, 0.4, 0.2)
    with pytest.raises(ValidationError):
        bp.parse_invoke_body({**body, "inferenceConfig": {"maxTokens": 0}})
