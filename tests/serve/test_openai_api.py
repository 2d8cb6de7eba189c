"""The OpenAI-compatible API through the ``openai`` client, against uvicorn on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.serve.helpers import API_KEY, LOADED, deploy, make_custom_model

SCHEMA = {
    "type": "object",
    "properties": {"visual": {"type": "number"}, "reasoning": {"type": "string"}},
    "required": ["visual", "reasoning"],
}


@pytest.fixture
def oai(server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0)


def test_chat_completion_with_json_schema(oai: openai.OpenAI) -> None:
    out = oai.chat.completions.create(
        model="fake-catalog",
        messages=[{"role": "system", "content": "route"}, {"role": "user", "content": "guitar solo"}],
        max_tokens=16,
        temperature=0.2,
        stop=["\n\n"],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weights", "schema": SCHEMA, "strict": True},
        },
    )
    assert out.choices[0].message.content == "echo: guitar solo"
    assert out.choices[0].finish_reason == "stop" and out.usage.total_tokens > 0
    messages, params = LOADED[-1].calls[-1]
    assert params.json_schema == SCHEMA and params.max_tokens == 16 and params.stop == ("\n\n",)
    assert [m.role for m in messages] == ["system", "user"]


def test_deployed_custom_model_by_arn(oai: openai.OpenAI, bedrock: Any, jobs: Any, home: Path) -> None:
    model_arn, _ = deploy(bedrock, jobs, home)
    out = oai.chat.completions.create(model=model_arn, messages=[{"role": "user", "content": "hi"}])
    assert out.choices[0].message.content == "echo: hi" and out.model == model_arn
    ids = [m.id for m in oai.models.list().data]
    assert model_arn in ids and "router-dep" in ids and "fake-catalog" in ids


WHERE = "You can find your API key in the server's STILLHOUSE_API_KEY (stillhouse serve --api-key)."


def test_wrong_api_key_is_refused(server: str) -> None:
    bad = openai.OpenAI(base_url=server + "/v1", api_key="sk-wrong-but-long-enough-to-quote", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as err:
        bad.chat.completions.create(model="fake-catalog", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 401 and err.value.code == "invalid_api_key"
    assert err.value.body == {  # OpenAI's own shape for a wrong key, the key masked as OpenAI does
        "message": f"Incorrect API key provided: sk-wrong{'*' * 21}uote. {WHERE}",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_missing_api_key_is_openais_401_with_code_null(oai: openai.OpenAI) -> None:
    """No Authorization header at all: OpenAI's 'You didn't provide an API key', code null, which
    the openai client raises as AuthenticationError like a wrong key."""
    no_key = {"Authorization": openai.Omit()}
    with pytest.raises(openai.AuthenticationError) as err:
        oai.chat.completions.create(
            model="fake-catalog", messages=[{"role": "user", "content": "x"}], extra_headers=no_key
        )
    assert err.value.status_code == 401 and err.value.code is None
    assert err.value.body == {
        "message": "You didn't provide an API key. You need to provide your API key in an Authorization "
        f"header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). {WHERE}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.AuthenticationError):
        oai.models.list(extra_headers=no_key)


@pytest.mark.parametrize(
    ("header", "code", "start"),
    [
        (None, None, "You didn't provide an API key."),
        ("Bearer", None, "You didn't provide an API key."),
        ("Bearer   ", None, "You didn't provide an API key."),
        ("Basic sk-test-stillhouse", None, "You didn't provide an API key."),
        ("Bearer sk-é", "invalid_api_key", "Incorrect API key provided: *****. "),  # 5 bytes
        ("bearer sk-test-stillhousE", "invalid_api_key", "Incorrect API key provided: ******************. "),
    ],
)
def test_missing_or_malformed_bearer_is_401(
    client: Any, header: str | None, code: str | None, start: str
) -> None:
    headers = {} if header is None else {"Authorization": header.encode()}
    r = client.get("/v1/models", headers=headers)
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert error["param"] is None and error["message"].startswith(start)


def test_unknown_model_and_unsupported_fields(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError) as err:
        oai.chat.completions.create(model="fake-catalog", messages=[{"role": "user", "content": "x"}], n=3)
    assert err.value.body["param"] == "n"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        oai.chat.completions.create(
            model="fake-catalog",
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "f"}}],
        )


def test_chat_calls_are_logged_with_metadata(oai: openai.OpenAI, app: Any, home: Path) -> None:
    oai.chat.completions.create(
        model="fake-catalog", messages=[{"role": "user", "content": "x"}], metadata={"use_case": "router"}
    )
    app.state.ctx.logs.flush()
    from stillhouse.sources.objectstore import LocalObjectStore

    store = LocalObjectStore(home / "s3")
    import gzip

    (uri,) = store.list("s3://stillhouse-logs/")
    (rec,) = [json.loads(x) for x in gzip.decompress(store.get_bytes(uri)).splitlines()]
    assert rec["operation"] == "ChatCompletions" and rec["requestMetadata"] == {"use_case": "router"}
    assert rec["output"]["outputBodyJson"]["choices"][0]["message"]["content"] == "echo: x"


def test_models_listing_shape(client: Any, jobs: Any, home: Path) -> None:
    make_custom_model(jobs, home)  # registered but not deployed: not listed
    r = client.get("/v1/models", headers={"authorization": f"Bearer {API_KEY}"})
    assert r.json() == {
        "object": "list",
        "data": [
            {
                "id": "fake-catalog",
                "object": "model",
                "created": r.json()["data"][0]["created"],
                "owned_by": "stillhouse-catalog",
            }
        ],
    }


def test_stream_true_yields_chunks_adding_up_to_the_answer(oai: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "a guitar solo at dusk"}]
    whole = oai.chat.completions.create(model="fake-catalog", messages=messages)
    chunks = list(
        oai.chat.completions.create(
            model="fake-catalog", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert {c.object for c in chunks} == {"chat.completion.chunk"} and len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == len(text.split())
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(c.usage is None for c in chunks[:-1])
    plain = list(oai.chat.completions.create(model="fake-catalog", messages=messages, stream=True))
    assert all(c.usage is None for c in plain) and all(c.choices for c in plain)


def test_stream_raw_sse_ends_with_done(server: str) -> None:
    import httpx

    body = {"model": "fake-catalog", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST", server + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    assert json.loads(lines[0][6:])["choices"][0]["delta"]["role"] == "assistant"


def test_stream_refusals_are_openai_errors(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        list(
            oai.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(
            model="fake-catalog",
            messages=[{"role": "user", "content": "x"}],
            stream_options={"include_usage": True},
        )
    assert info.value.param == "stream_options"


def test_stillhouses_own_openai_backend_streams_from_this_server(server: str) -> None:
    from stillhouse.chat import GenerationParams, Message, collect_stream
    from stillhouse.models.openai_http import OpenAIHTTPModel

    model = OpenAIHTTPModel("fake-catalog", server + "/v1", api_key=API_KEY)
    messages = [Message(role="user", content="three little words")]
    whole = model.generate(messages, GenerationParams())
    items = list(model.stream(messages, GenerationParams()))
    assert len(items) > 2 and collect_stream(iter(items)).model_copy(
        update={"latency_ms": 0}
    ) == whole.model_copy(update={"latency_ms": 0})
    model.close()
