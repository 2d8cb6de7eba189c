"""One record of a Bedrock evaluation job scored on its metrics, and the lines Bedrock writes for it.

A dataset line is ``{"prompt", "referenceResponse"?, "category"?, "modelResponses"?}`` (the last for
bring-your-own-inference). A metric is a judge rubric (a built-in one, normalised to 0..1 as Bedrock
reports it, or the job's custom one, reported on its own scale) or a task's deterministic rubric
(``Task.<name>``: no judge). A judge answer that cannot be read is kept as a score with ``result``
null, the judge's text as its explanation and the reason in ``error``, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import StillhouseError
from stillhouse.evaluate.bedrock_metrics import normalised
from stillhouse.evaluate.judge import Judge, JudgeVerdict
from stillhouse.evaluate.results import ExampleResult
from stillhouse.tasks.base import Task


class ModelResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str
    modelIdentifier: str


class EvalRecord(BaseModel):
    """A line of an evaluation dataset (Bedrock's keys; anything else is refused)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1)
    referenceResponse: str | None = None
    category: str | None = None
    modelResponses: list[ModelResponse] | None = Field(default=None, min_length=1, max_length=1)

    def response_of(self, source: str) -> str | None:
        """The precomputed response for inference source ``source``, if the line has one."""
        return next((r.response for r in self.modelResponses or [] if r.modelIdentifier == source), None)


@dataclass(frozen=True)
class Metric:
    """A metric of the job: exactly one of ``judge`` (with ``judge_id``) or ``task``."""

    name: str
    judge: Judge | None = None
    judge_id: str | None = None
    task: Task | None = None
    builtin: bool = False


@dataclass(frozen=True)
class Scored:
    """A metric's score entry (Bedrock's ``scores[]`` item) and the verdict behind it, if judged."""

    entry: dict[str, Any]
    verdict: JudgeVerdict | None = None


def score(metric: Metric, prompt: str, response: str, reference: str) -> Scored:
    """One metric of one response."""
    if metric.task is not None:
        try:
            values = metric.task.score(response, reference)
        except StillhouseError as exc:  # e.g. a reference the task cannot read: this record's score only
            return Scored({"metricName": metric.name, "result": None, "error": str(exc)})
        headline = next((values[k] for k in ("rubric", "rubric_score", "score") if k in values), None)
        result = float(headline) if headline is not None else None
        details = {k: (float(v) if v is not None else None) for k, v in values.items()}
        return Scored({"metricName": metric.name, "result": result, "details": details})
    assert metric.judge is not None
    verdict = metric.judge.grade(prompt, response, reference)
    entry: dict[str, Any] = {
        "metricName": metric.name,
        "result": None,
        "evaluatorDetails": [
            {"modelIdentifier": metric.judge_id, "explanation": verdict.reasoning or verdict.raw}
        ],
    }
    if verdict.score is None:
        entry["error"] = verdict.error or "the judge's answer has no score"
    else:
        rubric = metric.judge.rubric
        entry["result"] = normalised(rubric, verdict.score) if metric.builtin else verdict.score
    return Scored(entry, verdict)


def result_line(
    record: EvalRecord, model_id: str, response: str | None, scored: list[Scored], error: str | None
) -> dict[str, Any]:
    """Bedrock's output line: the scores, the input record as given, the model's response."""
    line: dict[str, Any] = {
        "automatedEvaluationResult": {"scores": [s.entry for s in scored]},
        "inputRecord": record.model_dump(exclude_none=True),
        "modelResponses": [{"response": response or "", "modelIdentifier": model_id}],
    }
    if error is not None:
        line["error"] = error
    return line


@dataclass(frozen=True)
class Answer:
    """What the evaluated model gave for one record, with what it cost to get."""

    text: str | None
    error: str | None = None
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    core_seconds: float | None = None


def example(index: int, prompt: str, reference: str, answer: Answer, scored: list[Scored]) -> ExampleResult:
    """The record as the report's :class:`ExampleResult` (scores by metric name, the first verdict)."""
    verdicts = [s.verdict for s in scored if s.verdict is not None]
    return ExampleResult(
        index=index,
        query=prompt,
        reference=reference,
        prediction=answer.text or "",
        error=answer.error,
        latency_ms=answer.latency_ms,
        input_tokens=answer.input_tokens,
        output_tokens=answer.output_tokens,
        core_seconds=answer.core_seconds,
        valid=answer.error is None and bool((answer.text or "").strip()),
        scores={s.entry["metricName"]: s.entry["result"] for s in scored},
        judge=verdicts[0] if verdicts else None,
    )


# ------------------------------------------------------------- RAG: precomputed retrieve-and-generate


class _Text(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str


class _Content(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: list[_Text] = Field(min_length=1)

    @property
    def text(self) -> str:
        return "".join(block.text for block in self.content)


class RagOutput(BaseModel):
    """What the RAG system answered, kept as given (its retrieved passages feed the judge)."""

    model_config = ConfigDict(extra="allow")

    text: str
    modelIdentifier: str | None = None
    knowledgeBaseIdentifier: str | None = None
    retrievedPassages: dict[str, Any] | None = None

    def passages(self) -> list[str]:
        results = (self.retrievedPassages or {}).get("retrievalResults") or []
        return [str((r.get("content") or {}).get("text", "")) for r in results if isinstance(r, dict)]


class RagTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: _Content
    referenceResponses: list[_Content] | None = None
    output: RagOutput


class RagRecord(BaseModel):
    """A line of a RAG evaluation dataset: ``{"conversationTurns": [{prompt, referenceResponses, output}]}``."""

    model_config = ConfigDict(extra="forbid")

    conversationTurns: list[RagTurn] = Field(min_length=1, max_length=1)

    @property
    def turn(self) -> RagTurn:
        return self.conversationTurns[0]

    @property
    def reference(self) -> str:
        return self.turn.referenceResponses[0].text if self.turn.referenceResponses else ""

    def judge_prompt(self) -> str:
        """The question with the passages the answer was generated from (what faithfulness is judged on)."""
        passages = "\n".join(f"- {p}" for p in self.turn.output.passages())
        question = self.turn.prompt.text
        return f"{question}\n\nRetrieved passages:\n{passages}" if passages else question


def rag_result_line(record: RagRecord, scored: list[Scored]) -> dict[str, Any]:
    """Bedrock's RAG output line: each turn's input record, its output as given, its results."""
    turn = record.turn
    return {
        "conversationTurns": [
            {
                "inputRecord": turn.model_dump(include={"prompt", "referenceResponses"}, exclude_none=True),
                "output": turn.output.model_dump(exclude_none=True),
                "results": [s.entry for s in scored],
            }
        ]
    }


def _entries(line: dict[str, Any]) -> list[dict[str, Any]]:
    if "automatedEvaluationResult" in line:
        return line["automatedEvaluationResult"]["scores"]
    return [entry for turn in line["conversationTurns"] for entry in turn["results"]]


def summarize_scores(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: the mean result, how many were scored and how many could not be."""
    out: dict[str, dict[str, Any]] = {}
    for line in lines:
        for entry in _entries(line):
            agg = out.setdefault(entry["metricName"], {"sum": 0.0, "scored": 0, "unscored": 0})
            if entry["result"] is None:
                agg["unscored"] += 1
            else:
                agg["sum"] += entry["result"]
                agg["scored"] += 1
    return {
        name: {
            "mean": agg["sum"] / agg["scored"] if agg["scored"] else None,
            "scored": agg["scored"],
            "unscored": agg["unscored"],
        }
        for name, agg in out.items()
    }
