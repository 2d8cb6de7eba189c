"""The student's speed levers on the real SmolLM2 GGUF: drafted skeleton decoding and the first
choice's option scores (integration)."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.models.draft import PromptLookup
from stillhouse.models.manifest import StudentDecoding
from stillhouse.tasks import get_task
from stillhouse.tasks.student import decoding_schema
from stillhouse.tasks.video_router.prompt import MODALITIES

pytestmark = pytest.mark.integration

TASK = get_task("video-router")
QUERY = [
    Message(role="system", content=TASK.student_prompt or ""),
    Message(role="user", content="a dog barking at the mailman"),
]
SHORT = decoding_schema(TASK.student_json_schema, StudentDecoding(max_string_chars=24, number_decimals=1))


@pytest.fixture(scope="module")
def models():
    pytest.importorskip("llama_cpp")
    from stillhouse.models import load_model

    plain = load_model("smollm2-135m", n_ctx=512, n_threads=1)
    return plain, load_model("smollm2-135m", n_ctx=512, n_threads=1, draft=PromptLookup(tokens=4))


def test_drafted_decoding_keeps_the_models_own_answer_and_counts_its_guesses(models):
    plain, drafted = models
    params = GenerationParams(max_tokens=96, json_schema=SHORT)
    expected = plain.generate(QUERY, params)
    answer = drafted.generate(QUERY, params)
    jsonschema.validate(json.loads(answer.text), TASK.student_json_schema)
    # greedy either way; a batched pass could round a near tie differently, this short answer meets none
    assert answer.text == expected.text and answer.output_tokens == expected.output_tokens
    stats = drafted._skeletons.draft_stats
    assert stats.verifications > 0 and 0 < stats.accepted <= stats.drafted
    assert drafted.generate(QUERY, params).text == answer.text  # a rejected guess leaves no state behind
    assert plain._skeletons.draft_stats.drafted == 0


def test_a_number_at_its_last_decimal_ends_without_the_model(models):
    plain, _ = models
    answer = json.loads(plain.generate(QUERY, GenerationParams(max_tokens=96, json_schema=SHORT)).text)
    assert all(round(answer[m], 1) == answer[m] for m in MODALITIES) and len(answer["reasoning"]) <= 24


def test_the_first_choices_scores_are_the_routes_log_probabilities(models):
    plain, _ = models
    scores = plain.option_logprobs(QUERY, TASK.student_json_schema)
    assert list(scores) == list(MODALITIES) and 0 < sum(math.exp(v) for v in scores.values()) <= 1.0001
    route = json.loads(plain.generate(QUERY, GenerationParams(max_tokens=96, json_schema=SHORT)).text)[
        "route"
    ]
    assert max(scores, key=scores.get) == route  # the same forward pass the decoder chooses the route from
    with pytest.raises(Exception, match="enum"):
        plain.option_logprobs(
            QUERY,
            {
                **SHORT,
                "properties": dict(list(SHORT["properties"].items())[1:]),
                "required": SHORT["required"][1:],
            },
        )


def test_decoding_until_the_reasoning_keeps_its_text_and_takes_the_weights_from_the_route_scores(models):
    from stillhouse.tasks.student_model import StudentFormatModel
    from stillhouse.tasks.video_router.golden import golden_route_prior
    from stillhouse.tasks.video_router.route_head import mixed_weights
    from stillhouse.tasks.video_router.weights import round_hundredths

    plain, _ = models
    params = GenerationParams(max_tokens=256, json_schema=TASK.student_json_schema)
    full = plain.generate(QUERY, params)
    head, scores = plain.decode_until(QUERY, params, "reasoning")
    whole = json.loads(full.text)
    # the same tokens as the whole answer's, stopped after the reasoning
    assert json.loads(head.text) == {"route": whole["route"], "reasoning": whole["reasoning"]}
    assert head.output_tokens < full.output_tokens and head.stop_reason == "end_turn"
    assert scores == pytest.approx(plain.option_logprobs(QUERY, TASK.student_json_schema), abs=1e-4)
    student = StudentFormatModel(plain, TASK, StudentDecoding(decode_until="reasoning"))
    asked = GenerationParams(max_tokens=256, json_schema=TASK.json_schema)  # as a caller asks
    answer = json.loads(student.generate(TASK.messages("a dog barking at the mailman"), asked).text)
    assert answer["reasoning"] == whole["reasoning"]
    assert {m: answer[m] for m in MODALITIES} == round_hundredths(mixed_weights(scores, golden_route_prior()))
    with pytest.raises(Exception, match="not a key"):
        plain.decode_until(QUERY, params, "weights")


def test_a_published_folder_whose_manifest_decodes_until_the_reasoning_is_served_so(models, tmp_path):
    from stillhouse.models import load_model
    from stillhouse.models.manifest import write_manifest
    from stillhouse.tasks.student_model import StudentFormatModel

    plain, _ = models
    (tmp_path / "model.gguf").symlink_to(plain.path)
    (tmp_path / "config.json").write_text("{}")
    write_manifest(tmp_path, TASK.name, StudentDecoding(decode_until="reasoning"))
    served = load_model(str(tmp_path), n_ctx=512, n_threads=1)
    assert isinstance(served, StudentFormatModel) and served.decoding.decode_until == "reasoning"
    messages, params = TASK.messages("a dog barking at the mailman"), GenerationParams(max_tokens=256)
    answer, whole = (
        served.generate(messages, params),
        StudentFormatModel(plain, TASK).generate(messages, params),
    )
    assert TASK.parse(answer.text).ok and answer.output_tokens < whole.output_tokens  # no weights decoded
