"""llama.cpp backend: pure mapping helpers, then the real SmolLM2 GGUF (integration)."""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest

from stillhouse.chat import ChatModel, GenerationParams, Image, Message
from stillhouse.errors import InvalidInputError
from stillhouse.models.llamacpp import stop_reason, to_llama_messages
from stillhouse.models.llamacpp_load import THREADS_ENV, default_threads

USER = [
    Message(role="system", content="You are a helpful assistant."),
    Message(role="user", content="Write a short poem about the sea."),
]
SCHEMA = {
    "type": "object",
    "properties": {
        "modality": {"type": "string", "enum": ["visual", "audio", "transcription", "metadata"]},
        "confidence": {"type": "number"},
    },
    "required": ["modality", "confidence"],
}


def test_stop_reason_mapping():
    assert stop_reason("length", 10, None) == "max_tokens"
    assert stop_reason("stop", 10, None) == "end_turn"
    assert stop_reason("stop", 10, 11) == "end_turn"  # end-of-turn token sampled but not kept
    assert stop_reason("stop", 10, 10) == "stop_sequence"  # last kept token completed a stop string


def test_images_are_refused():
    with pytest.raises(InvalidInputError, match="text-only"):
        to_llama_messages([Message(role="user", content="x", images=(Image(format="png", data=b"p"),))])
    assert to_llama_messages(USER[:1]) == [{"role": "system", "content": "You are a helpful assistant."}]


def test_default_threads_honours_the_environment(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert default_threads() >= 1
    monkeypatch.setenv(THREADS_ENV, "1")
    assert default_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "zero")
    with pytest.raises(InvalidInputError):
        default_threads()


@pytest.fixture(scope="module")
def smollm2():
    pytest.importorskip("llama_cpp")
    from stillhouse.models import load_model

    return load_model("smollm2-135m", n_ctx=512, n_threads=1)  # 1 thread: cores are shared in CI


@pytest.mark.integration
def test_generates_with_accounting(smollm2):
    assert isinstance(smollm2, ChatModel) and smollm2.supports_json_schema
    first = smollm2.generate(USER, GenerationParams(max_tokens=16))
    again = smollm2.generate(USER, GenerationParams(max_tokens=16))
    assert first.text and first.text == again.text  # greedy is deterministic
    assert first.input_tokens > 10 and 0 < first.output_tokens <= 16
    assert first.latency_ms > 0 and first.model == "smollm2-135m"


@pytest.mark.integration
def test_max_tokens_and_stop_sequences(smollm2):
    cut = smollm2.generate(USER, GenerationParams(max_tokens=4))
    assert (cut.output_tokens, cut.stop_reason) == (4, "max_tokens")
    full = smollm2.generate(USER, GenerationParams(max_tokens=24)).text
    word = full.split()[2]
    stopped = smollm2.generate(USER, GenerationParams(max_tokens=24, stop=(word,)))
    assert stopped.stop_reason == "stop_sequence"
    assert full.startswith(stopped.text) and word not in stopped.text
    short = smollm2.generate(
        USER[:1] + [Message(role="user", content="Say hi.")], GenerationParams(max_tokens=48, stop=("zzzz",))
    )
    assert short.stop_reason == "end_turn"


@pytest.mark.integration
def test_json_schema_output_is_valid_by_construction(smollm2):
    messages = [
        Message(role="user", content="Which modality best answers the query 'guitar solo'? Reply in JSON.")
    ]
    for temperature in (0.0, 1.0):  # greedy and sampled: the grammar holds either way
        params = GenerationParams(max_tokens=48, json_schema=SCHEMA, temperature=temperature, seed=1)
        jsonschema.validate(json.loads(smollm2.generate(messages, params).text), SCHEMA)


@pytest.mark.integration
def test_seeded_sampling_is_reproducible(smollm2):
    params = GenerationParams(max_tokens=8, temperature=0.9, seed=42)
    assert smollm2.generate(USER, params).text == smollm2.generate(USER, params).text


@pytest.mark.integration
def test_overlong_prompt_is_invalid_input(smollm2):
    with pytest.raises(InvalidInputError):
        smollm2.generate([Message(role="user", content="word " * 2000)], GenerationParams(max_tokens=8))


@pytest.mark.integration
def test_concurrent_calls_are_serialised(smollm2):
    expected = smollm2.generate(USER, GenerationParams(max_tokens=12)).text
    results: list[str] = []

    def call():
        results.append(smollm2.generate(USER, GenerationParams(max_tokens=12)).text)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 3


ROUTER_QUERY = [
    Message(role="system", content="Route the video search query. Answer in JSON."),
    Message(role="user", content="a dog barking at the mailman"),
]


@pytest.mark.integration
def test_skeleton_decoding_writes_schema_valid_json_and_reuses_the_prompt_cache(smollm2):
    from stillhouse.models.llamacpp import LlamaCppModel
    from stillhouse.tasks.video_router.schema import STUDENT_JSON_SCHEMA

    params = GenerationParams(max_tokens=96, json_schema=STUDENT_JSON_SCHEMA)
    assert smollm2._skeleton_for(params) is not None
    first = smollm2.generate(ROUTER_QUERY, params)
    jsonschema.validate(json.loads(first.text), STUDENT_JSON_SCHEMA)
    assert first.stop_reason == "end_turn" and first.text.startswith('{"route": "')
    assert 20 < first.output_tokens <= 96  # forced text counts: keys and quotes are output tokens too
    smollm2.generate(USER, GenerationParams(max_tokens=8))  # another prompt in between
    assert smollm2.generate(ROUTER_QUERY, params).text == first.text
    fresh = LlamaCppModel(smollm2.path, n_ctx=512, n_threads=1)
    assert fresh.generate(ROUTER_QUERY, params).text == first.text  # no state leaks between calls


def _with_shot(shot: str, query: str) -> list[Message]:
    answer = '{"route": "visual", "reasoning": "What is seen.", "visual": 0.7, "audio": 0.1, '
    answer += '"transcription": 0.1, "metadata": 0.1}'
    return [
        *ROUTER_QUERY[:1],
        Message(role="user", content=shot),
        Message(role="assistant", content=answer),
        Message(role="user", content=query),
    ]


@pytest.mark.integration
def test_a_prompt_sharing_a_long_prefix_with_an_earlier_one_restores_its_state(smollm2):
    from stillhouse.models.llamacpp import LlamaCppModel
    from stillhouse.tasks.video_router.schema import STUDENT_JSON_SCHEMA

    params = GenerationParams(max_tokens=48, json_schema=STUDENT_JSON_SCHEMA)
    shot_a = "a red kite over a beach, filmed from a drone at noon, " * 3
    shot_b = "someone explaining how to file taxes in a podcast episode, " * 3
    states = smollm2._skeletons.states
    smollm2.generate(_with_shot(shot_a, "a cat on a piano"), params)
    smollm2.generate(_with_shot(shot_b, "a speech about taxes"), params)
    restored = states.restored
    again = smollm2.generate(_with_shot(shot_a, "thunder at night"), params)
    assert states.restored == restored + 1  # shot_a's prefix came back from its snapshot
    fresh = LlamaCppModel(smollm2.path, n_ctx=512, n_threads=1)
    assert fresh.generate(_with_shot(shot_a, "thunder at night"), params).text == again.text


@pytest.mark.integration
def test_skeleton_decoding_stops_at_max_tokens(smollm2):
    from stillhouse.tasks.video_router.schema import STUDENT_JSON_SCHEMA

    cut = smollm2.generate(ROUTER_QUERY, GenerationParams(max_tokens=10, json_schema=STUDENT_JSON_SCHEMA))
    assert (cut.output_tokens, cut.stop_reason) == (10, "max_tokens")
    assert cut.text.startswith('{"route": "')
    with pytest.raises(InvalidInputError):  # a prompt longer than the context window, as on the grammar path
        smollm2.generate(
            [Message(role="user", content="word " * 2000)],
            GenerationParams(max_tokens=8, json_schema=STUDENT_JSON_SCHEMA),
        )


@pytest.mark.integration
def test_requests_a_skeleton_cannot_serve_use_the_grammar(smollm2):
    from stillhouse.tasks.video_router.schema import STUDENT_JSON_SCHEMA

    assert smollm2._skeleton_for(GenerationParams(json_schema=SCHEMA)) is None  # an unbounded number
    sampled = GenerationParams(json_schema=STUDENT_JSON_SCHEMA, temperature=0.7)
    assert smollm2._skeleton_for(sampled) is None
    assert smollm2._skeleton_for(GenerationParams(json_schema=STUDENT_JSON_SCHEMA, stop=("x",))) is None
    answer = json.loads(smollm2.generate(ROUTER_QUERY, sampled.model_copy(update={"seed": 3})).text)
    assert list(answer) == list(STUDENT_JSON_SCHEMA["properties"])  # llama.cpp's grammar: keys and types,
    # but not a number's minimum and maximum, which only the skeleton enforces


NESTED = {  # not flat: llama.cpp's grammar constrains it, token by token
    "type": "object",
    "properties": {"tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}},
    "required": ["tags"],
}


@pytest.mark.integration
@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(max_tokens=12),
        GenerationParams(max_tokens=120),
        GenerationParams(max_tokens=60, json_schema=NESTED),
        GenerationParams(max_tokens=60, json_schema=SCHEMA),  # skeleton decoding
        GenerationParams(max_tokens=40, stop=("\n",)),  # stop strings: one delta
    ],
    ids=["max_tokens", "end_turn", "grammar", "skeleton", "stop"],
)
def test_stream_writes_what_generate_writes(smollm2, params):
    from stillhouse.chat import Completion, collect_stream

    prompt = [Message(role="user", content="Say hello in three words.")] if params.max_tokens == 120 else USER
    whole = smollm2.generate(prompt, params)
    items = list(smollm2.stream(prompt, params))
    assert isinstance(items[-1], Completion) and all(isinstance(i, str) for i in items[:-1])
    streamed = collect_stream(iter(items))
    assert streamed.model_copy(update={"latency_ms": 0}) == whole.model_copy(update={"latency_ms": 0})
    if params.json_schema is not None:
        assert "".join(items[:-1]) and json.loads("".join(items[:-1])) is not None
    single = bool(params.stop)
    assert (len(items) == 2) if single else (len(items) > 3)
    if params.max_tokens == 120:
        assert whole.stop_reason == "end_turn"


@pytest.mark.integration
def test_closing_a_stream_frees_the_model(smollm2):
    stream = smollm2.stream(USER, GenerationParams(max_tokens=200))
    next(stream)
    stream.close()
    assert smollm2._lock.acquire(blocking=False)  # released, not held by the abandoned stream
    smollm2._lock.release()
    assert smollm2.generate(USER, GenerationParams(max_tokens=2)).output_tokens == 2
