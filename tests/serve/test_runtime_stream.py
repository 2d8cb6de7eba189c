"""ConverseStream and InvokeModelWithResponseStream through boto3's unchanged client on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError
from tests.serve.helpers import echo

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.models.fake import FakeModel

USER = [{"role": "user", "content": [{"text": "find the guitar solo"}]}]


class Ticker:
    """Streams a tick every 10 ms (1000 of them), or fails after two when ``fail`` is set."""

    supports_json_schema = False

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.produced = 0

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return Completion(text="tick " * 1000, model=self.name)

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        for i in range(1000):
            if self.fail and i == 2:
                raise RuntimeError("the GPU caught fire")
            time.sleep(0.01)
            self.produced += 1
            yield "tick "
        yield self.generate(messages, params)


BUILT: dict[str, Any] = {}


def loader(spec: str) -> Any:
    model = (
        Ticker(spec, fail=spec == "failing") if spec in ("slow", "failing") else FakeModel(echo, name=spec)
    )
    BUILT[spec] = model
    return model


@pytest.fixture
def model_loader() -> Any:
    return loader


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset({"fake-catalog", "slow", "failing"})


def _events(response: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(name, body) for event in response["stream"] for name, body in event.items()]


def test_converse_stream_yields_bedrocks_events_adding_up_to_converse(runtime: Any) -> None:
    whole = runtime.converse(modelId="fake-catalog", messages=USER)
    events = _events(runtime.converse_stream(modelId="fake-catalog", messages=USER))
    names = [name for name, _ in events]
    assert names[0] == "messageStart" and events[0][1] == {"role": "assistant"}
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [body for name, body in events if name == "contentBlockDelta"]
    assert len(deltas) == len(whole["output"]["message"]["content"][0]["text"].split()) > 1
    assert all(d["contentBlockIndex"] == 0 for d in deltas)
    assert "".join(d["delta"]["text"] for d in deltas) == whole["output"]["message"]["content"][0]["text"]
    assert events[-2][1] == {"stopReason": whole["stopReason"]}
    metadata = events[-1][1]
    assert metadata["usage"] == whole["usage"] and metadata["metrics"]["latencyMs"] >= 0


@pytest.mark.parametrize(
    "body",
    [
        {"messages": USER, "inferenceConfig": {"max_new_tokens": 20}},  # Nova messages-v1
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 20,
            "messages": [{"role": "user", "content": "hi there"}],
        },
        {"prompt": "hi there you", "max_gen_len": 20},  # Llama
    ],
    ids=["nova", "anthropic", "llama"],
)
def test_invoke_with_response_stream_chunks_add_up_to_invoke(runtime: Any, body: dict[str, Any]) -> None:
    whole = json.loads(runtime.invoke_model(modelId="fake-catalog", body=json.dumps(body))["body"].read())
    response = runtime.invoke_model_with_response_stream(modelId="fake-catalog", body=json.dumps(body))
    assert response["contentType"] == "application/json"
    chunks = [json.loads(event["chunk"]["bytes"]) for event in response["body"]]
    if "anthropic_version" in body:
        assert [c["type"] for c in chunks[:2]] == ["message_start", "content_block_start"]
        text = "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta")
        assert text == whole["content"][0]["text"]
        assert chunks[-2]["usage"]["output_tokens"] == whole["usage"]["output_tokens"]
    elif "prompt" in body:
        assert "".join(c["generation"] for c in chunks) == whole["generation"]
        assert chunks[-1]["stop_reason"] == whole["stop_reason"]
    else:
        assert chunks[0] == {"messageStart": {"role": "assistant"}}
        text = "".join(c["contentBlockDelta"]["delta"]["text"] for c in chunks if "contentBlockDelta" in c)
        assert text == whole["output"]["message"]["content"][0]["text"]
        assert chunks[-2] == {"messageStop": {"stopReason": whole["stopReason"]}}
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert (
        metrics["outputTokenCount"] > 0 and metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0
    )


def test_refusals_before_the_stream_are_http_errors(runtime: Any) -> None:
    with pytest.raises(ClientError) as info:
        runtime.converse_stream(modelId="no-such-model", messages=USER)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as info:
        runtime.converse_stream(
            modelId="fake-catalog", messages=[{"role": "assistant", "content": [{"text": "x"}]}]
        )
    assert info.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as info:
        runtime.invoke_model_with_response_stream(modelId="fake-catalog", body=b"not json")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_a_model_failing_mid_stream_is_a_model_stream_error_event(runtime: Any, app: Any) -> None:
    for call in (
        lambda: runtime.converse_stream(modelId="failing", messages=USER)["stream"],
        lambda: runtime.invoke_model_with_response_stream(
            modelId="failing", body=json.dumps({"messages": USER})
        )["body"],
    ):
        seen = []
        with pytest.raises(EventStreamError) as info:
            for event in call():
                seen.append(event)
        assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
        assert "caught fire" in info.value.response["Error"]["Message"]
        assert len(seen) >= 2  # the deltas before the failure arrived


def _logged(app: Any, home: Path) -> list[dict[str, Any]]:
    import gzip

    from stillhouse.sources.objectstore import LocalObjectStore

    app.state.ctx.logs.flush()
    store = LocalObjectStore(home / "s3")
    return [
        json.loads(line)
        for uri in store.list("s3://stillhouse-logs/")
        for line in gzip.decompress(Path(store.local_path(uri)).read_bytes()).splitlines()
    ]


def test_streamed_calls_are_logged_like_their_unstreamed_twins(runtime: Any, app: Any, home: Path) -> None:
    from stillhouse.sources.invocation_logs import body_to_record

    list(runtime.converse_stream(modelId="fake-catalog", messages=USER, requestMetadata={"k": "v"})["stream"])
    body = json.dumps({"prompt": "hi there", "max_gen_len": 9})
    list(runtime.invoke_model_with_response_stream(modelId="fake-catalog", body=body)["body"])
    with pytest.raises(ClientError):
        runtime.converse_stream(modelId="no-such-model", messages=USER)
    with pytest.raises(EventStreamError):
        list(runtime.converse_stream(modelId="failing", messages=USER)["stream"])
    records = sorted(_logged(app, home), key=lambda r: r["timestamp"])
    assert [(r["operation"], r.get("errorCode")) for r in records] == [
        ("ConverseStream", None),
        ("InvokeModelWithResponseStream", None),
        ("ConverseStream", "ResourceNotFoundException"),
        ("ConverseStream", "ModelErrorException"),
    ]
    assert records[0]["requestMetadata"] == {"k": "v"}
    for record in records[:2]:  # a distillation job reads them as it reads Converse / InvokeModel
        rec = body_to_record(record["input"]["inputBodyJson"], record["output"]["outputBodyJson"])
        assert rec.answer and rec.answer.startswith("echo: ")
        assert record["output"]["outputTokenCount"] > 0


def test_a_client_that_hangs_up_frees_the_only_replica(runtime: Any) -> None:
    response = runtime.converse_stream(modelId="slow", messages=USER)
    stream = iter(response["stream"])
    assert next(stream) == {"messageStart": {"role": "assistant"}}
    assert "contentBlockDelta" in next(stream)
    response["stream"].close()  # the client goes away ~1000 ticks (10 s) before the answer ends
    started = time.monotonic()
    out = runtime.converse(modelId="fake-catalog", messages=USER)  # another model: a free pool
    assert out["output"]["message"]["content"][0]["text"].startswith("echo")
    second = runtime.converse_stream(modelId="slow", messages=USER)["stream"]
    assert next(iter(second)) == {"messageStart": {"role": "assistant"}}
    second.close()
    assert time.monotonic() - started < 5  # served by the one worker, not after the first stream
    assert BUILT["slow"].produced < 500


def test_an_openai_stream_failing_midway_raises_the_clients_api_error(server: str) -> None:
    import openai
    from tests.serve.helpers import API_KEY

    oai = openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0)
    seen = []
    with pytest.raises(openai.APIError, match="caught fire") as info:
        for chunk in oai.chat.completions.create(
            model="failing", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            seen.append(chunk)
    assert info.value.body["type"] == "model_error"  # type: ignore[index]
    assert len(seen) == 3  # the role chunk and two ticks came first


def test_stillhouses_own_bedrock_backend_streams_from_this_server(runtime: Any) -> None:
    from stillhouse.chat import collect_stream
    from stillhouse.errors import ModelError
    from stillhouse.models.bedrock import BedrockModel

    model = BedrockModel("fake-catalog", client=runtime)
    messages = [Message(role="system", content="s"), Message(role="user", content="three little words")]
    whole = model.generate(messages, GenerationParams(max_tokens=9))
    items = list(model.stream(messages, GenerationParams(max_tokens=9)))
    streamed = collect_stream(iter(items))
    assert len(items) > 2 and streamed.text == whole.text == "echo: three little words"
    assert (streamed.input_tokens, streamed.output_tokens) == (whole.input_tokens, whole.output_tokens)
    with pytest.raises(ModelError, match="caught fire"):
        list(BedrockModel("failing", client=runtime).stream(messages, GenerationParams()))
