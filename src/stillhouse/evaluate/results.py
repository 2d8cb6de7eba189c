"""The typed results of an evaluation (what ``results.json`` holds) and the per-model summary.

``summarize`` is pure: it turns per-example results into the headline figures, so the CLI table,
``--json`` and the HTML report all read the same numbers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from stillhouse.evaluate.judge import JudgeRubric, JudgeVerdict
from stillhouse.evaluate.metrics import cost_per_1k_queries, finite, mean, percentile

# Which keys of ``task.score(...)`` feed each headline figure. Tasks name their metrics freely; the
# video router reports a rubric score, the mean absolute weight error and a dominant-modality match.
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "rubric_mean": ("rubric", "rubric_score", "score"),
    "weight_mae": ("mae", "weight_mae", "mean_abs_error"),
    "dominant_accuracy": ("dominant_match", "dominant_accuracy", "dominant"),
    # The image keyword task: per-image Jaccard and F1 of the keyword sets against the reference.
    "jaccard_mean": ("jaccard",),
    "keyword_f1": ("f1",),
}

# The per-model figures of ``--json`` (``judge_mean``/``judge_failures`` are added when judged).
SUMMARY_KEYS: tuple[str, ...] = (
    "rubric_mean",
    "weight_mae",
    "dominant_accuracy",
    "validity",
    "p50_ms",
    "p95_ms",
    "mean_ms",
    "failed_calls",
    "input_tokens_mean",
    "output_tokens_mean",
    "tokens_total",
    "cost_per_1k_queries",
    "core_seconds_mean",
    "stand_in",
    "stand_in_cost_per_1k_queries",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExampleResult(_Model):
    """One model's answer to one held-out record, with everything measured about it."""

    index: int
    query: str
    reference: str
    prediction: str
    error: str | None = None
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    core_seconds: float | None = None  # CPU time the call used in this process (None: not measured)
    stand_in_cost: float | None = None  # the same tokens at the on-demand price of the stand-in model
    valid: bool
    parse_errors: list[str] = []
    scores: dict[str, float | None] = {}
    field_errors: dict[str, float] = {}
    exact_match: float = 0.0
    fuzzy_match: float = 0.0
    judge: JudgeVerdict | None = None


class ModelSummary(_Model):
    """Headline figures of one model over the held-out set (``None`` = not measurable)."""

    label: str
    model_name: str
    n: int
    failed_calls: int
    validity: float | None
    rubric_mean: float | None = None
    weight_mae: float | None = None
    dominant_accuracy: float | None = None
    jaccard_mean: float | None = None
    keyword_f1: float | None = None
    exact_match: float | None = None
    fuzzy_match: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    mean_ms: float | None = None
    input_tokens_mean: float | None = None
    output_tokens_mean: float | None = None
    tokens_total: int = 0
    cost_per_1k_queries: float | None = None
    price_entry: str | None = None
    core_seconds_mean: float | None = None
    stand_in: str | None = None  # the Bedrock model whose on-demand price is shown beside
    stand_in_cost_per_1k_queries: float | None = None
    judge_mean: float | None = None
    judge_failures: int = 0
    score_means: dict[str, float | None] = {}
    field_mae: dict[str, float | None] = {}


class ModelResults(_Model):
    summary: ModelSummary
    examples: list[ExampleResult]


class JudgeInfo(_Model):
    model: str
    rubric: JudgeRubric


class EvaluationResults(_Model):
    """Everything one ``evaluate`` run measured: written as ``results.json``."""

    task: str
    created_at: str
    n_records: int
    unreadable: list[str] = []  # lines of the held-out source that were not records at all
    skipped: list[str] = []  # records that were read but could not be evaluated
    params: dict[str, Any] = {}
    judge: JudgeInfo | None = None
    prices_source: str | None = None
    currency: str = "USD"
    models: dict[str, ModelResults] = {}

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per model, the headline figures (the ``--json`` output of ``stillhouse evaluate``)."""
        out: dict[str, dict[str, Any]] = {}
        for label, result in self.models.items():
            row = {key: getattr(result.summary, key) for key in SUMMARY_KEYS}
            if self.judge is not None:
                row["judge_mean"] = result.summary.judge_mean
                row["judge_failures"] = result.summary.judge_failures
            out[label] = row
        return out


def summarize(
    label: str,
    model_name: str,
    examples: list[ExampleResult],
    *,
    priced: str | None,
    stand_in: str | None = None,
) -> ModelSummary:
    """Headline figures from per-example results. ``priced`` names the price entry used, if any;
    ``stand_in`` the Bedrock model whose on-demand price the examples' ``stand_in_cost`` holds."""
    stand_in_costs = finite(e.stand_in_cost for e in examples)
    latencies = [e.latency_ms for e in examples]
    score_keys = sorted({key for e in examples for key in e.scores})
    score_means = {key: mean(e.scores.get(key) for e in examples) for key in score_keys}
    field_keys = sorted({key for e in examples for key in e.field_errors})
    judged = [e.judge for e in examples if e.judge is not None]
    return ModelSummary(
        label=label,
        model_name=model_name,
        n=len(examples),
        failed_calls=sum(e.error is not None for e in examples),
        validity=mean(float(e.valid) for e in examples),
        **{name: _first_present(score_means, keys) for name, keys in HEADLINE_KEYS.items()},
        exact_match=mean(e.exact_match for e in examples),
        fuzzy_match=mean(e.fuzzy_match for e in examples),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        mean_ms=mean(latencies),
        input_tokens_mean=mean(e.input_tokens for e in examples),
        output_tokens_mean=mean(e.output_tokens for e in examples),
        tokens_total=sum(e.input_tokens + e.output_tokens for e in examples),
        cost_per_1k_queries=cost_per_1k_queries(finite(e.cost for e in examples)) if priced else None,
        price_entry=priced,
        core_seconds_mean=mean(e.core_seconds for e in examples),
        stand_in=stand_in if stand_in_costs else None,
        stand_in_cost_per_1k_queries=cost_per_1k_queries(stand_in_costs) if stand_in else None,
        judge_mean=mean(v.score for v in judged) if judged else None,
        judge_failures=sum(v.score is None for v in judged),
        score_means=score_means,
        field_mae={key: mean(e.field_errors.get(key) for e in examples) for key in field_keys},
    )


def _first_present(means: dict[str, float | None], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        if key in means:
            return means[key]
    return None
