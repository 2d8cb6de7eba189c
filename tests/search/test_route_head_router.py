"""The generative student's weights-only router: its route scores mixed over the golden weights."""

from __future__ import annotations

import math

import pytest

from stillhouse.errors import InvalidInputError
from stillhouse.models.fake import FakeModel
from stillhouse.search.routing import RouteHeadRouter
from stillhouse.tasks import get_task
from stillhouse.tasks.student_model import StudentFormatModel
from stillhouse.tasks.video_router.golden import load_golden
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
