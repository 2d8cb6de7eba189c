"""OpenAI-compatible backend: the wire request, the response mapping and HTTP errors → stillhouse errors."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from stillhouse.chat import GenerationParams, Image, Message
from stillhouse.errors import (
    RETRYABLE,
    AccessDeniedError,
    InvalidInputError,
    ModelError,
    ModelTimeoutError,
    NotFoundError,
    ServiceUnavailableError,
    ThrottledError,
)
from stillhouse.models.openai_http import OpenAIHTTPModel

MESSAGES = [Message(role="system", content="Be brief."), Message(role="user", content="Hi")]
SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


def _answer(content="ok", finish="stop", **choice) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
                **choice,
            }
        ],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
        "system_fingerprint": "extra fields are ignored",
    }


def _model(handler, **kwargs) -> tuple[OpenAIHTTPModel, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    model = OpenAIHTTPModel("qwen", "http://server/v1", transport=httpx.MockTransport(record), **kwargs)
    return model, seen


def test_request_body_and_completion(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    model, seen = _model(lambda r: httpx.Response(200, json=_answer('{"a": 1}')))
    params = GenerationParams(
        max_tokens=20, temperature=0.5, top_p=0.9, stop=("END",), seed=4, json_schema=SCHEMA
    )
    completion = model.generate(MESSAGES, params)
    request = seen[0]
    assert request.url == "http://server/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-env"
    body = json.loads(request.content)
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert body["max_tokens"] == 20 and body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["stop"] == ["END"] and body["seed"] == 4
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert completion.text == '{"a": 1}'
    assert (completion.input_tokens, completion.output_tokens, completion.stop_reason) == (11, 3, "end_turn")
    assert completion.latency_ms > 0


def test_optional_fields_are_left_out_and_explicit_key_wins(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    model, seen = _model(lambda r: httpx.Response(200, json=_answer()), api_key="sk-explicit")
    model.generate(MESSAGES, GenerationParams())
    body = json.loads(seen[0].content)
    assert not {"stop", "seed", "response_format"} & set(body)
    assert seen[0].headers["authorization"] == "Bearer sk-explicit"


def test_images_become_data_uri_parts():
    model, seen = _model(lambda r: httpx.Response(200, json=_answer()))
    image = Image(format="png", data=b"\x89PNG")
    model.generate([Message(role="user", content="what is this", images=(image,))], GenerationParams())
    content = json.loads(seen[0].content)["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this"}
    assert content[1]["image_url"]["url"] == "data:image/png;base64,iVBORw=="


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"finish": "length"}, "max_tokens"),
        ({"finish": "stop"}, "end_turn"),
        ({"finish": "stop", "stop_reason": "END"}, "stop_sequence"),  # vLLM names the matched stop
        ({"finish": "stop", "stop_reason": 151645}, "end_turn"),  # ... or the EOS token id
    ],
)
def test_stop_reasons(choice, expected):
    model, _ = _model(lambda r: httpx.Response(200, json=_answer(**choice)))
    assert model.generate(MESSAGES, GenerationParams(stop=("END",))).stop_reason == expected


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, ThrottledError),
        (500, ServiceUnavailableError),
        (502, ServiceUnavailableError),
        (503, ServiceUnavailableError),
        (408, ModelTimeoutError),
        (401, AccessDeniedError),
        (403, AccessDeniedError),
        (404, NotFoundError),
        (400, InvalidInputError),
        (418, ModelError),
    ],
)
def test_http_errors_map_to_stillhouse_errors(status, error):
    model, _ = _model(lambda r: httpx.Response(status, json={"error": {"message": "nope"}}))
    with pytest.raises(error, match=str(status)):
        model.generate(MESSAGES, GenerationParams())


def test_transient_failures_are_retryable():
    def timeout(request):
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request):
        raise httpx.ConnectError("refused", request=request)

    for handler, error in ((timeout, ModelTimeoutError), (refused, ServiceUnavailableError)):
        model, _ = _model(handler)
        with pytest.raises(error) as caught:
            model.generate(MESSAGES, GenerationParams())
        assert isinstance(caught.value, RETRYABLE)


def test_garbage_bodies_are_model_errors():
    for body in (b"not json", b'{"choices": []}', b'{"unexpected": true}'):
        model, _ = _model(lambda r, body=body: httpx.Response(200, content=body))
        with pytest.raises(ModelError):
            model.generate(MESSAGES, GenerationParams())


@pytest.mark.integration
def test_real_loopback_server_and_timeout():
    delay = {"s": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            length = int(self.headers["Content-Length"])
            body = json.loads(self.rfile.read(length))
            time.sleep(delay["s"])
            payload = json.dumps(_answer(f"echo {body['messages'][-1]['content']}")).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout case)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        model = OpenAIHTTPModel("m", base, api_key="k", timeout_s=0.3)
        assert model.generate(MESSAGES, GenerationParams()).text == "echo Hi"
        delay["s"] = 1.0
        with pytest.raises(ModelTimeoutError):
            model.generate(MESSAGES, GenerationParams())
        model.close()
    finally:
        server.shutdown()
        server.server_close()


def _sse(*objects: object, done: bool = True) -> bytes:
    lines = [f"data: {json.dumps(o)}\n\n" for o in objects] + (["data: [DONE]\n\n"] if done else [])
    return (": keep-alive comment\n\n" + "".join(lines)).encode()


def _chunk(content=None, finish=None, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish, **extra}]}


def test_stream_yields_deltas_then_the_completion_with_the_usage_chunk():
    from stillhouse.chat import Completion

    usage = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}}
    body = _sse(_chunk(""), _chunk("he"), _chunk("llo"), _chunk(None, "length"), usage)
    model, seen = _model(lambda r: httpx.Response(200, content=body))
    items = list(model.stream(MESSAGES, GenerationParams(max_tokens=2)))
    assert items[:2] == ["he", "llo"] and isinstance(items[2], Completion) and len(items) == 3
    assert (items[2].text, items[2].input_tokens, items[2].output_tokens) == ("hello", 9, 2)
    assert items[2].stop_reason == "max_tokens"
    sent = json.loads(seen[0].content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_stream_stop_sequence_and_errors():
    body = _sse(_chunk("a"), _chunk(None, "stop", stop_reason="END"))
    model, _ = _model(lambda r: httpx.Response(200, content=body))
    assert list(model.stream(MESSAGES, GenerationParams(stop=("END",))))[-1].stop_reason == "stop_sequence"
    for bad in (b"data: {not json\n\n", _sse({"error": {"message": "GPU on fire"}}), _sse({"choices": 3})):
        model, _ = _model(lambda r, bad=bad: httpx.Response(200, content=bad))
        with pytest.raises(ModelError):
            list(model.stream(MESSAGES, GenerationParams()))
    model, _ = _model(lambda r: httpx.Response(429, text="slow down"))
    with pytest.raises(ThrottledError, match="slow down"):
        list(model.stream(MESSAGES, GenerationParams()))


def test_distribution_from_logprobs_asks_for_them_and_reads_bytes_offsets():
    content = [
        {
            "token": "h\u00e9",
            "logprob": -0.1,
            "bytes": [104, 195, 169],
            "top_logprobs": [
                {"token": "x", "logprob": -3.0, "bytes": [120]},
                {"token": "h\u00e9", "logprob": -0.1, "bytes": [104, 195, 169]},
            ],
        },
        {"token": "!", "logprob": -0.5, "bytes": None, "top_logprobs": [{"token": "!", "logprob": -0.5}]},
    ]
    model, seen = _model(
        lambda r: httpx.Response(200, json=_answer("h\u00e9!", logprobs={"content": content}))
    )
    completion, dist = model.generate_with_distribution(MESSAGES, GenerationParams(), 2)
    body = json.loads(seen[0].content)
    assert body["logprobs"] is True and body["top_logprobs"] == 2
    assert completion.text == dist.text == "h\u00e9!"
    assert dist.offsets == (0, 2) and dist.ids == (-1, -1)
    assert dist.top_logprobs == ((-0.1, -3.0), (-0.5,)) and dist.top_ids == ((-1, -1), (-1,))


def test_a_server_that_ignores_logprobs_is_a_model_error():
    model, seen = _model(lambda r: httpx.Response(200, json=_answer("ok")))
    with pytest.raises(ModelError, match="without the logprobs"):
        model.generate_with_distribution(MESSAGES, GenerationParams(), 2)
    model.generate(MESSAGES, GenerationParams())
    plain = json.loads(seen[-1].content)  # a plain request asks for none
    assert "logprobs" not in plain and "top_logprobs" not in plain
