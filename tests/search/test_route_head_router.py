"""The generative student's weights-only router: its route scores mixed over the golden weights, its
spec (``route-head:SPEC``) and its invocation-log entries."""

from __future__ import annotations

import json
import math

import pytest

from stillhouse.errors import InvalidInputError, ModelError, NotFoundError
from stillhouse.models.fake import FakeModel
from stillhouse.search.routing import (
    ModelRouter,
    RouteHeadRouter,
    RouterSpec,
    parse_router_spec,
    resolve_router,
)
from stillhouse.tasks import get_task
from stillhouse.tasks.student_model import StudentFormatModel
from stillhouse.tasks.video_router.golden import load_golden
from stillhouse.tasks.video_router.prompt import MODALITIES
from stillhouse.tasks.video_router.route_head import route_prior

TASK = get_task("video-router")


class Scorer(FakeModel):
    """A student whose route scores are fixed: nearly sure of audio."""

    def option_logprobs(self, messages, schema):
        self.seen = messages
        return {
            "visual": math.log(0.01),
            "audio": math.log(0.97),
            "transcription": math.log(0.01),
            "metadata": -9.0,
        }


def test_a_served_student_routes_by_its_route_scores_without_decoding():
    inner = Scorer(["never decoded"], name="student")
    router = RouteHeadRouter(StudentFormatModel(inner, TASK))
    routing = router.route("a dog barking at night", index="news")
    assert max(routing.weights, key=routing.weights.get) == "audio" and routing.reasoning is None
    assert routing.weights["audio"] == pytest.approx(route_prior(load_golden())["audio"]["audio"], abs=0.02)
    assert sum(routing.weights.values()) == pytest.approx(1.0)
    assert inner.calls == [] and inner.seen[-1].content == "a dog barking at night"
    assert inner.seen[0].content == TASK.student_prompt and router.name == "student (route head)"


def test_a_model_that_cannot_score_its_route_is_refused():
    with pytest.raises(InvalidInputError, match="cannot score"):
        RouteHeadRouter(FakeModel(["{}"], name="plain"))


class Failing(FakeModel):
    def option_logprobs(self, messages, schema):
        raise ModelError("llama.cpp failed: out of memory")


@pytest.mark.parametrize(
    ("spec", "kind", "model"),
    [
        ("route-head:runs/demo/models/student", "route-head", "runs/demo/models/student"),
        ("  route-head: llamacpp:/m/student.gguf ", "route-head", "llamacpp:/m/student.gguf"),
        ("route-head:smollm2-135m", "route-head", "smollm2-135m"),
        ("runs/demo/models/fast-router", "model", "runs/demo/models/fast-router"),
        ("llamacpp:/m/route-head:x.gguf", "model", "llamacpp:/m/route-head:x.gguf"),
        ("fast-router:runs/r", "model", "fast-router:runs/r"),
    ],
)
def test_router_specs_name_a_route_head_or_a_model(spec, kind, model):
    assert parse_router_spec(spec) == RouterSpec(kind, model)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty router spec"),
        ("   ", "empty router spec"),
        ("route-head:", "names no model after 'route-head:'"),
        ("route-head:   ", "names no model after 'route-head:'"),
        ("route-head:route-head:runs/s", "a route head of a route head"),
        ("route-head: route-head:runs/s", "a route head of a route head"),
    ],
)
def test_a_bad_router_spec_is_refused_naming_the_router(spec, message):
    with pytest.raises(InvalidInputError, match=message) as caught:
        parse_router_spec(spec)
    assert caught.value.field == "router"


def test_a_route_head_spec_loads_its_model_through_the_registry(tmp_path):
    from tests.search.conftest import tiny_router

    with pytest.raises(NotFoundError):
        resolve_router(f"route-head:{tmp_path / 'missing'}")
    folder = tiny_router(tmp_path / "router")  # a fast router gives weights, not route scores
    with pytest.raises(InvalidInputError, match="cannot score its route") as caught:
        resolve_router(f"route-head:{folder}")
    assert caught.value.field == "router"
    assert isinstance(resolve_router(str(folder)), ModelRouter)


@pytest.mark.parametrize(
    "model",
    [
        StudentFormatModel(FakeModel(["{}"], name="hf-student"), TASK),  # a backend that cannot score
        StudentFormatModel(Scorer(["{}"], name="keywords"), get_task("image-keywords")),  # another task
        Scorer(["{}"], name="bare"),  # scores, but not served as a router student
    ],
)
def test_only_a_router_student_whose_backend_scores_is_a_route_head(model):
    with pytest.raises(InvalidInputError, match="cannot score its route"):
        RouteHeadRouter(model)


def test_each_route_head_call_is_logged_as_the_model_routers_with_its_weights_as_the_answer():
    calls = []
    router = RouteHeadRouter(StudentFormatModel(Scorer(["-"], name="student"), TASK), log=calls.append)
    routing = router.route("a dog barking at night", index="news")
    asked = []
    ModelRouter(FakeModel(['{"visual": 1}'], name="m"), log=asked.append).route(
        "a dog barking at night", index="news"
    )
    (call,) = calls
    assert call.model_id == "student (route head)" and call.error is None and call.latency_ms > 0
    assert call.metadata == asked[0].metadata == {"use_case": "video-search-router", "index": "news"}
    assert call.messages == asked[0].messages and call.params == asked[0].params  # the same request
    answer = json.loads(call.completion.text)
    assert list(answer) == list(MODALITIES) and sum(answer.values()) == pytest.approx(1.0)
    assert answer == pytest.approx(routing.weights, abs=0.01) and call.completion.output_tokens == 0
    assert TASK.parse(call.completion.text).errors == ["missing_key:reasoning"]  # not a training answer


def test_a_failed_route_head_call_is_logged_and_raised():
    calls = []
    router = RouteHeadRouter(StudentFormatModel(Failing(["-"], name="student"), TASK), log=calls.append)
    with pytest.raises(ModelError):
        router.route("rain on a tin roof", index="news")
    (call,) = calls
    assert call.completion is None and isinstance(call.error, ModelError)
    assert call.messages[-1].content == "rain on a tin roof"
