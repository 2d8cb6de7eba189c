"""LLM-as-judge: a custom rubric (Bedrock's custom-metric shape) applied through any ``ChatModel``.

A rubric is ``{name, instructions, ratingScale: [{definition, value}]}``; ``value`` may be a plain
number or Bedrock's ``{"floatValue": 5.0}``. Instructions may use Bedrock's input variables
``{{prompt}}``, ``{{prediction}}`` and ``{{ground_truth}}``; when they do not, the three are appended.
The judge is asked for ``{"reasoning": ..., "score": ...}`` (schema-constrained where the backend
allows) and its answer is read leniently: JSON, fenced JSON, "Score: 4", "4/5" or a bare number.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stillhouse.chat import ChatModel, GenerationParams, Message
from stillhouse.errors import InvalidInputError, NotFoundError, StillhouseError


class RatingLevel(BaseModel):
    """One step of a rating scale: what it means and the number it is worth."""

    model_config = ConfigDict(extra="forbid")

    definition: str = Field(min_length=1)
    value: float

    @field_validator("value", mode="before")
    @classmethod
    def _unwrap(cls, raw: Any) -> Any:
        # Bedrock wraps the value: {"floatValue": 5.0} or {"stringValue": "5"}.
        if isinstance(raw, dict) and len(raw) == 1:
            return next(iter(raw.values()))
        return raw


class JudgeRubric(BaseModel):
    """A custom metric: a name, the judge's instructions and its rating scale."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=63)
    instructions: str = Field(min_length=1)
    rating_scale: list[RatingLevel] = Field(alias="ratingScale", min_length=2)

    @property
    def low(self) -> float:
        return min(level.value for level in self.rating_scale)

    @property
    def high(self) -> float:
        return max(level.value for level in self.rating_scale)


class JudgeVerdict(BaseModel):
    """The judge's grade of one prediction; ``score`` is ``None`` when it could not be read."""

    model_config = ConfigDict(extra="forbid")

    score: float | None = None
    reasoning: str = ""
    raw: str = ""
    error: str | None = None


OVERALL_QUALITY = JudgeRubric(
    name="OverallQuality",
    instructions=(
        "You grade the intent router of a video semantic search engine. For a search query the router "
        "returns JSON with four modality weights (visual, audio, transcription, metadata) that sum to "
        "1.0, and a short reasoning. Compare the candidate answer with the reference answer on two "
        "dimensions: weight accuracy (how far each weight is from the reference, and whether the "
        "dominant modality matches) and reasoning quality (specific to this query and consistent with "
        "the weights, not generic boilerplate). Unparseable JSON or missing keys get the lowest score.\n\n"
        "Query: {{prompt}}\n\nReference answer: {{ground_truth}}\n\nCandidate answer: {{prediction}}"
    ),
    # The seed blog's scale, verbatim (it has no step 3; a judge may still answer 3 and is believed).
    ratingScale=[
        RatingLevel(
            definition="Weights within 0.05 of reference. Reasoning is specific and consistent.", value=5.0
        ),
        RatingLevel(
            definition="Weights within 0.10 of reference. Reasoning is clear and mostly consistent.",
            value=4.0,
        ),
        RatingLevel(
            definition="Dominant modality matches. Avg error ≤ 0.15. Reasoning vague or inconsistent.",
            value=2.0,
        ),
        RatingLevel(
            definition="Unparseable JSON, missing keys, or error > 0.30. No useful reasoning.", value=1.0
        ),
    ],
)

CORRECTNESS = JudgeRubric(
    name="Correctness",
    instructions=(
        "Grade how well the candidate answer matches the reference answer for the prompt, in content "
        "and in format.\n\nPrompt: {{prompt}}\n\nReference answer: {{ground_truth}}\n\n"
        "Candidate answer: {{prediction}}"
    ),
    ratingScale=[
        RatingLevel(definition="Equivalent to the reference.", value=5.0),
        RatingLevel(definition="Mostly right, minor differences.", value=4.0),
        RatingLevel(definition="Partly right.", value=3.0),
        RatingLevel(definition="Mostly wrong.", value=2.0),
        RatingLevel(definition="Wrong, empty or unreadable.", value=1.0),
    ],
)

_BUILTIN = {"video-router": OVERALL_QUALITY}


def builtin_rubric(task_name: str) -> JudgeRubric:
    """The task's own rubric (OverallQuality for ``video-router``), else a generic correctness one."""
    return _BUILTIN.get(task_name, CORRECTNESS)


def load_rubric(path: str | Path) -> JudgeRubric:
    """A rubric from a JSON file (``ratingScale`` or ``rating_scale``; Bedrock value wrappers accepted)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise NotFoundError(f"rubric file {file} does not exist", field="rubric")
    try:
        return JudgeRubric.model_validate(json.loads(file.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidInputError(f"rubric file {file} is invalid: {exc}", field="rubric") from exc


_VARIABLES = ("{{prompt}}", "{{prediction}}", "{{ground_truth}}")
_VARIABLE = re.compile(r"\{\{(prompt|prediction|ground_truth)\}\}")


def judge_messages(rubric: JudgeRubric, prompt: str, prediction: str, reference: str) -> list[Message]:
    """The conversation sent to the judge for one prediction."""
    body = rubric.instructions
    if not any(var in body for var in _VARIABLES):
        body += (
            "\n\nPrompt: {{prompt}}\n\nReference answer: {{ground_truth}}\n\nCandidate answer: {{prediction}}"
        )
    values = {
        "prompt": prompt,
        "ground_truth": reference,
        "prediction": prediction if prediction.strip() else "(empty answer)",
    }
    # One pass, so a candidate answer that itself contains "{{prompt}}" is quoted, not expanded.
    body = _VARIABLE.sub(lambda match: values[match.group(1)], body)
    scale = "\n".join(f"- {level.value:g}: {level.definition}" for level in rubric.rating_scale)
    system = (
        f"You are an impartial evaluator applying the rubric '{rubric.name}'. "
        f"Rating scale:\n{scale}\n"
        f'Answer with JSON only: {{"reasoning": "<one or two sentences>", "score": <number from '
        f"{rubric.low:g} to {rubric.high:g}>}}."
    )
    return [Message(role="system", content=system), Message(role="user", content=body)]


def judge_schema(rubric: JudgeRubric) -> dict[str, Any]:
    """JSON schema of the judge's answer, so constrained backends cannot answer off the scale."""
    return {
        "type": "object",
        "properties": {
            "reasoning": {"type": "string"},
            "score": {"type": "number", "minimum": rubric.low, "maximum": rubric.high},
        },
        "required": ["reasoning", "score"],
    }


_SCORE_KEYS = ("score", "rating", "value", "grade", "overallquality")
_NUMBER = r"(-?\d+(?:\.\d+)?)"
_LABELLED = re.compile(
    r"(?:score|rating|grade)\W{0,6}(?:(?:is|of|would be|=)\W{0,3})?" + _NUMBER, re.IGNORECASE
)
_FRACTION = re.compile(_NUMBER + r"\s*(?:/|out of)\s*" + _NUMBER, re.IGNORECASE)


def parse_judge_answer(text: str, rubric: JudgeRubric) -> JudgeVerdict:
    """Read the judge's score from whatever it wrote; a score off the scale is refused, not clipped."""
    score, reasoning = _from_json(text)
    if score is None:
        score = _from_prose(text, rubric)
        reasoning = text.strip()
    if score is None:
        return JudgeVerdict(raw=text, reasoning=reasoning, error="no score found in the judge's answer")
    if not rubric.low <= score <= rubric.high:
        return JudgeVerdict(
            raw=text, reasoning=reasoning, error=f"score {score:g} is outside the rating scale"
        )
    return JudgeVerdict(score=score, reasoning=reasoning, raw=text)


def _from_json(text: str) -> tuple[float | None, str]:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None, ""
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None, ""
    if not isinstance(obj, dict):
        return None, ""
    lowered = {str(k).lower(): v for k, v in obj.items()}
    reasoning = str(lowered.get("reasoning") or lowered.get("explanation") or "")
    for key in _SCORE_KEYS:
        value = lowered.get(key)
        if isinstance(value, dict) and len(value) == 1:  # {"floatValue": 4.0}
            value = next(iter(value.values()))
        number = _as_number(value)
        if number is not None:
            return number, reasoning
    return None, reasoning


def _from_prose(text: str, rubric: JudgeRubric) -> float | None:
    labelled = _LABELLED.findall(text)
    if labelled:
        return float(labelled[-1])  # the last "Score: N" is the conclusion, earlier ones are quotes
    for num, den in _FRACTION.findall(text):
        if float(den) == rubric.high:
            return float(num)
    return _as_number(text.strip().rstrip("."))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
        return float(value)
    return None


class Judge:
    """Grades predictions with ``rubric`` by asking ``model``; model failures become verdict errors."""

    def __init__(self, model: ChatModel, rubric: JudgeRubric, *, max_tokens: int = 256) -> None:
        self.model = model
        self.rubric = rubric
        self.params = GenerationParams(
            max_tokens=max_tokens, temperature=0.0, json_schema=judge_schema(rubric)
        )

    def grade(self, prompt: str, prediction: str, reference: str) -> JudgeVerdict:
        """One verdict; a judge that errors or answers off-scale yields ``score=None`` with the reason."""
        messages = judge_messages(self.rubric, prompt, prediction, reference)
        try:
            completion = self.model.generate(messages, self.params)
        except StillhouseError as exc:
            return JudgeVerdict(error=f"judge call failed: {exc}")
        return parse_judge_answer(completion.text, self.rubric)
