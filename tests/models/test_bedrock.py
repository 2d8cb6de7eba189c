"""Bedrock Converse backend: request shape, response mapping, AWS error codes → stillhouse errors."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stillhouse.chat import GenerationParams, Image, Message
from stillhouse.errors import (
    RETRYABLE,
    AccessDeniedError,
    IncompleteSignatureError,
    InvalidInputError,
    InvalidSignatureError,
    MissingAuthenticationTokenError,
    ModelError,
    ModelNotReadyError,
    ModelTimeoutError,
    NotFoundError,
    ServiceUnavailableError,
    ThrottledError,
    UnrecognizedClientError,
)
from stillhouse.models.bedrock import BedrockModel, make_client

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [
    Message(role="system", content="Route queries."),
    Message(role="user", content="guitar solo", images=(Image(format="jpeg", data=b"\xff\xd8jpeg"),)),
]


def _response(text="ok", stop="end_turn") -> dict:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop,
        "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
        "metrics": {"latencyMs": 321},
    }


@pytest.fixture
def stubbed(monkeypatch):
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    client = make_client(endpoint_url=None, region="us-east-1", timeout_s=5)
    with Stubber(client) as stubber:
        yield BedrockModel(MODEL_ID, client=client), stubber
        stubber.assert_no_pending_responses()


def test_converse_request_and_completion(stubbed):
    model, stubber = stubbed
    expected = {
        "modelId": MODEL_ID,
        "system": [{"text": "Route queries."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "guitar solo"},
                    {"image": {"format": "jpeg", "source": {"bytes": b"\xff\xd8jpeg"}}},
                ],
            }
        ],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.0, "topP": 1.0, "stopSequences": ["</a>"]},
    }
    stubber.add_response("converse", _response("audio", stop="stop_sequence"), expected)
    completion = model.generate(MESSAGES, GenerationParams(max_tokens=64, stop=("</a>",)))
    assert completion.text == "audio"
    assert completion.model == f"bedrock:{MODEL_ID}"
    assert (completion.input_tokens, completion.output_tokens) == (12, 4)
    assert completion.latency_ms == 321
    assert completion.stop_reason == "stop_sequence"


def test_max_tokens_stop_reason(stubbed):
    model, stubber = stubbed
    stubber.add_response("converse", _response(stop="max_tokens"))
    assert model.generate(MESSAGES[1:], GenerationParams()).stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ThrottlingException", 429, ThrottledError),
        ("ModelTimeoutException", 408, ModelTimeoutError),
        ("ServiceUnavailableException", 503, ServiceUnavailableError),
        ("InternalServerException", 500, ServiceUnavailableError),
        ("ValidationException", 400, InvalidInputError),
        ("AccessDeniedException", 403, AccessDeniedError),
        ("UnrecognizedClientException", 403, UnrecognizedClientError),
        ("InvalidSignatureException", 403, InvalidSignatureError),
        ("IncompleteSignatureException", 400, IncompleteSignatureError),
        ("MissingAuthenticationTokenException", 403, MissingAuthenticationTokenError),
        ("ResourceNotFoundException", 404, NotFoundError),
        ("ModelNotReadyException", 429, ModelNotReadyError),
        ("ModelErrorException", 424, ModelError),
        ("SomethingNewException", 400, ModelError),
    ],
)
def test_client_errors_map_to_stillhouse_errors(stubbed, code, status, error):
    model, stubber = stubbed
    stubber.add_client_error(
        "converse", service_error_code=code, service_message="boom", http_status_code=status
    )
    with pytest.raises(error, match=code) as caught:
        model.generate(MESSAGES, GenerationParams())
    assert type(caught.value) is error
    assert isinstance(caught.value, RETRYABLE) == (
        error in (ThrottledError, ModelTimeoutError, ServiceUnavailableError)
    )


class _ConverseStub(BaseHTTPRequestHandler):
    """A Converse-shaped loopback server: answers from ``script`` and records requests."""

    script: list[tuple[int, dict, dict]] = []
    seen: list[tuple[str, dict, dict]] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, dict(self.headers), body))
        status, headers, payload = type(self).script.pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.integration
def test_endpoint_from_environment_signed_and_not_retried(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    _ConverseStub.seen = []
    _ConverseStub.script = [
        (200, {}, _response("visual")),
        (429, {"x-amzn-ErrorType": "ThrottlingException"}, {"message": "slow down"}),
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ConverseStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("STILLHOUSE_BEDROCK_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        model = BedrockModel("my-custom-model")
        assert model.generate(MESSAGES, GenerationParams(max_tokens=8)).text == "visual"
        with pytest.raises(ThrottledError, match="slow down"):
            model.generate(MESSAGES, GenerationParams(max_tokens=8))
    finally:
        server.shutdown()
        server.server_close()
    assert len(_ConverseStub.seen) == 2  # boto3's own retries are off: the caller decides
    path, headers, body = _ConverseStub.seen[0]
    assert path == "/model/my-custom-model/converse"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
    assert body["system"] == [{"text": "Route queries."}]
    assert body["inferenceConfig"]["maxTokens"] == 8
    assert body["messages"][0]["content"][1]["image"]["source"]["bytes"] == "/9hqcGVn"  # base64 on the wire
