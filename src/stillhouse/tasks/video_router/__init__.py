"""The video search intent router: a query in, four modality weights and one sentence of reasoning out.

The engine fuses per-modality scores (visual, audio, transcription, metadata) with these weights, so
the router decides, per query, which index should count. See :mod:`.golden` for the labelling policy
of the hand-written golden set and :mod:`.rubric` for the deterministic score.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stillhouse.errors import InvalidInputError
from stillhouse.models.manifest import StudentFormat
from stillhouse.tasks.base import ParseResult, Task
from stillhouse.tasks.student import shorten_text
from stillhouse.tasks.video_router.parse import parse_answer
from stillhouse.tasks.video_router.prompt import MODALITIES, STUDENT_PROMPT, SYSTEM_PROMPT
from stillhouse.tasks.video_router.rubric import score_answer
from stillhouse.tasks.video_router.schema import JSON_SCHEMA, STUDENT_JSON_SCHEMA
from stillhouse.tasks.video_router.weights import dominant, normalise, round_hundredths, weights_of

__all__ = ["MODALITIES", "VideoRouterTask"]

# The steering pool: 2,000 synthesized queries (1,600 single-intent), enough wording to vote a query's
# class and cheap enough to synthesize and embed on the first retrieval (benchmarks/README.md). Its own
# seed, so it does not replay the demo's training queries (seed 0) with their intents.
STEERING_POOL_SIZE = 2000
STEERING_POOL_SEED = 7


class VideoRouterTask(Task):
    """The router task: prompt, schema, lenient parser, consensus and the deterministic rubric."""

    name = "video-router"
    system_prompt = SYSTEM_PROMPT
    json_schema = JSON_SCHEMA
    student_prompt = STUDENT_PROMPT

    @property
    def student_json_schema(self) -> dict[str, Any]:
        return STUDENT_JSON_SCHEMA

    def parse(self, text: str, *, normalize: bool = False) -> ParseResult:
        """Read an answer leniently; ``errors`` names each broken contract rule (see :mod:`.parse`)."""
        return parse_answer(text, normalize=normalize)

    def lenient_value(self, text: str) -> dict[str, Any] | None:
        """The weights renormalised (percentages, a sum of 0.98) when the answer is otherwise readable."""
        return parse_answer(text, normalize=True).value

    def render(self, value: dict[str, Any]) -> str:
        """Canonical compact JSON: weights rounded to 2 decimals summing to exactly 1.0, then reasoning."""
        weights, reasoning = _canonical(value)
        return json.dumps({**weights, "reasoning": reasoning}, ensure_ascii=False, separators=(", ", ": "))

    def render_student(self, value: dict[str, Any], fmt: StudentFormat | None = None) -> str:
        """The same answer as the student writes it: the dominant modality as ``route``, then the
        reasoning (shortened to ``fmt.reasoning_chars`` at a clause or word boundary), then the
        weights (:data:`.schema.STUDENT_JSON_SCHEMA`)."""
        weights, reasoning = _canonical(value)
        if fmt is not None and fmt.reasoning_chars is not None:
            reasoning = shorten_text(reasoning, fmt.reasoning_chars)
        answer = {"route": dominant(weights), "reasoning": reasoning, **weights}
        return json.dumps(answer, ensure_ascii=False, separators=(", ", ": "))

    def complete_from_choice(self, value: dict[str, Any], logprobs: Mapping[str, float]) -> dict[str, Any]:
        """The student's route and reasoning (``value``) completed with weights: its probabilities
        for the four routes mixed over each route's median golden weights (:mod:`.route_head`), as
        the weights-only path reads them; the route itself is not part of the task's answer."""
        from stillhouse.tasks.video_router.golden import golden_route_prior
        from stillhouse.tasks.video_router.route_head import mixed_weights

        return {
            **mixed_weights(logprobs, golden_route_prior()),
            "reasoning": str(value.get("reasoning") or ""),
        }

    def steering_pool(self) -> list[tuple[str, str]]:
        """Synthesized single-intent queries with the modality their template was written for."""
        from stillhouse.tasks.video_router.synth import SynthConfig, synthesize

        queries = synthesize(SynthConfig(n=STEERING_POOL_SIZE, seed=STEERING_POOL_SEED))
        return [(q.text, q.intent) for q in queries if q.intent != "mixed"]

    def answer_class(self, answer: str) -> str | None:
        """The answer's dominant modality."""
        value = self.lenient_value(answer)
        return dominant(weights_of(value)) if value is not None else None

    def combine(self, values: list[dict[str, Any]]) -> dict[str, Any]:
        """Average the (normalised) weights, renormalise, and keep the reasoning of the sample closest
        to that consensus (L1 distance; the earliest sample wins a tie)."""
        if not values:
            raise InvalidInputError("nothing to combine", field="values")
        samples = [normalise(weights_of(v)) for v in values]
        consensus = normalise({m: sum(s[m] for s in samples) / len(samples) for m in MODALITIES})
        distances = [sum(abs(s[m] - consensus[m]) for m in MODALITIES) for s in samples]
        closest = distances.index(min(distances))
        return {**consensus, "reasoning": str(values[closest].get("reasoning") or "")}

    def score(self, prediction: str, reference: str) -> dict[str, float]:
        """Rubric score (1–5), ``valid``, ``dominant_match`` and, when scorable, ``mae``/``max_error``."""
        ref = parse_answer(reference, normalize=True)
        if ref.value is None:
            raise InvalidInputError(
                f"reference answer is unusable: {', '.join(ref.errors)}", field="reference"
            )
        return score_answer(prediction, ref.value).as_metrics()


def _canonical(value: dict[str, Any]) -> tuple[dict[str, float], str]:
    """Weights rounded to hundredths summing to exactly 1.0, and the reasoning on one line."""
    return round_hundredths(weights_of(value)), " ".join(str(value.get("reasoning") or "").split())
