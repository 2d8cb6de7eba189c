"""The router's output contract: a JSON schema (for schema-constrained decoding and validation) and
the equivalent typed model.

Contract: a JSON object with exactly ``visual``, ``audio``, ``transcription``, ``metadata`` (numbers in
[0, 1] summing to 1.0 within :data:`SUM_TOLERANCE`) and a non-empty ``reasoning`` string.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stillhouse.tasks.video_router.prompt import MODALITIES, Modality

SUM_TOLERANCE: Final[float] = 0.01
# Bounds the reasoning under constrained decoding (one short sentence); the lenient parser does not
# refuse longer reasoning, because a long but correct teacher answer is still worth keeping.
REASONING_MAX_CHARS: Final[int] = 200

_WEIGHT: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": 1}

JSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        **{m: dict(_WEIGHT) for m in MODALITIES},
        "reasoning": {"type": "string", "minLength": 1, "maxLength": REASONING_MAX_CHARS},
    },
    "required": [*MODALITIES, "reasoning"],
    "additionalProperties": False,
}

# The student's answer: a generative model writes left to right, so it first names the dominant
# modality (``route``, one word out of four: a classification, which a 135M model learns far better
# than the same decision spread over four numbers), then the reasoning, then weights conditioned on
# both. With the weights first, SmolLM2-135M trained on a few hundred examples learnt one constant
# answer; reasoning first routed worse than route first (same data and seed; benchmarks/bench_student.py,
# figures in benchmarks/README.md). ``route`` is dropped when the answer is read back into the
# task's canonical form; the weights are the answer.
STUDENT_JSON_SCHEMA: Final[dict[str, Any]] = {
    **JSON_SCHEMA,
    "properties": {
        "route": {"type": "string", "enum": list(MODALITIES)},
        "reasoning": JSON_SCHEMA["properties"]["reasoning"],
        **{m: dict(_WEIGHT) for m in MODALITIES},
    },
    "required": ["route", "reasoning", *MODALITIES],
}


class RouterAnswer(BaseModel):
    """A contract-compliant routing answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    visual: float = Field(ge=0.0, le=1.0)
    audio: float = Field(ge=0.0, le=1.0)
    transcription: float = Field(ge=0.0, le=1.0)
    metadata: float = Field(ge=0.0, le=1.0)
    reasoning: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> RouterAnswer:
        total = sum(self.weights.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"weights sum to {total:.3f}, not 1.0 (±{SUM_TOLERANCE})")
        if not self.reasoning.strip():
            raise ValueError("reasoning is blank")
        return self

    @property
    def weights(self) -> dict[Modality, float]:
        return {m: getattr(self, m) for m in MODALITIES}
