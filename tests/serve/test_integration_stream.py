"""The packaged student (SmolLM2-135M, llama.cpp) streamed through boto3 and the openai client:
greedy deltas add up to the non-streamed answer, and a router-schema answer stays valid JSON."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from stillhouse.tasks import get_task

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m"
ROUTER = get_task("video-router")


@pytest.fixture
def model_loader() -> Any:
    pytest.importorskip("llama_cpp")
    from stillhouse.serve.deployments import default_loader

    return default_loader(threads=1)  # cores are shared in CI


@pytest.fixture
def catalog_names() -> frozenset[str]:
    return frozenset({MODEL})


def _warm(runtime: Any, request: dict[str, Any]) -> None:
    """The same call first: llama.cpp's greedy answer depends a little on what its KV cache held
    before (a cold prompt, a reused prefix), streamed or not, so the calls compared follow alike."""
    runtime.converse(modelId=MODEL, **request)


def _converse_stream_text(runtime: Any, **request: Any) -> tuple[str, list[str], dict[str, Any]]:
    events = [e for e in runtime.converse_stream(modelId=MODEL, **request)["stream"]]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    return "".join(deltas), deltas, events[-1]["metadata"]


def test_converse_stream_adds_up_to_converse_on_the_packaged_student(runtime: Any) -> None:
    request = {
        "messages": [{"role": "user", "content": [{"text": "Name three colours of the sea."}]}],
        "inferenceConfig": {"maxTokens": 24, "temperature": 0.0},
    }
    _warm(runtime, request)
    whole = runtime.converse(modelId=MODEL, **request)
    text, deltas, metadata = _converse_stream_text(runtime, **request)
    assert text == whole["output"]["message"]["content"][0]["text"] and len(deltas) > 3
    assert metadata["usage"] == whole["usage"]


def test_a_router_schema_answer_streams_as_valid_json_both_ways(runtime: Any, server: str) -> None:
    import openai
    from tests.serve.helpers import API_KEY

    query = "the drum solo in the live set"
    schema = json.dumps(ROUTER.json_schema)
    request = {
        "system": [{"text": ROUTER.system_prompt}],
        "messages": [{"role": "user", "content": [{"text": query}]}],
        "inferenceConfig": {"maxTokens": 160, "temperature": 0.0},
        "outputConfig": {
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": schema}}}
        },
    }
    _warm(runtime, request)
    whole = runtime.converse(modelId=MODEL, **request)["output"]["message"]["content"][0]["text"]
    text, deltas, _ = _converse_stream_text(runtime, **request)
    assert text == whole and len(deltas) > 3
    jsonschema.validate(json.loads(text), ROUTER.json_schema)  # the base student: valid, not wise

    oai = openai.OpenAI(base_url=server + "/v1", api_key=API_KEY, max_retries=0)
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "system", "content": ROUTER.system_prompt}, {"role": "user", "content": query}],
        "max_tokens": 160,
        "temperature": 0,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "route", "schema": ROUTER.json_schema},
        },
    }
    answer = oai.chat.completions.create(**body).choices[0].message.content
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in oai.chat.completions.create(**body, stream=True)
        if c.choices
    )
    assert streamed == answer == whole
