"""An evaluation job's ``results.json`` and ``report.html``, as ``stillhouse evaluate`` writes them,
with each model priced from the price table (a local one by its measured core-seconds, beside the
Bedrock model it stands in for)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillhouse.jobs.evaluation import REPORT
from stillhouse.jobs.evaluation_schema import AutomatedEvaluationConfig, EvaluationJob
from stillhouse.sources.objectstore import ObjectStore

if TYPE_CHECKING:
    from stillhouse.evaluate.results import EvaluationResults, ExampleResult

# The cost figures of a model's summary that an evaluation job's summary.json repeats.
COST_KEYS = (
    "cost_per_1k_queries",
    "price_entry",
    "core_seconds_mean",
    "stand_in",
    "stand_in_cost_per_1k_queries",
)


def write_report(
    store: ObjectStore,
    base: str,
    job: EvaluationJob,
    automated: AutomatedEvaluationConfig,
    examples: dict[str, list[ExampleResult]],
) -> EvaluationResults:
    """``results.json`` and ``report.html`` as ``stillhouse evaluate`` writes them, for the job:
    each model priced from the price table (a local one by its measured core-seconds, beside the
    Bedrock model it stands in for)."""
    from stillhouse.evaluate.prices import load_prices
    from stillhouse.evaluate.report import write_report as write_files
    from stillhouse.evaluate.results import EvaluationResults, ModelResults, summarize
    from stillhouse.evaluate.run import price_examples

    prices = load_prices()
    results = EvaluationResults(
        task=f"evaluation job {job.jobName}",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_records=max((len(e) for e in examples.values()), default=0),
        judge=judge_info(automated),
        prices_source=prices.source_path,
        currency=prices.currency,
    )
    for label, ex in examples.items():
        price = prices.lookup(label.split(" / ")[0])
        # Precomputed responses were not run here: with nothing measured there is nothing to price.
        ex, stand = price_examples(ex, price, prices) if any(e.latency_ms for e in ex) else (ex, None)
        summary = summarize(label, label, ex, priced=price.match if price else None, stand_in=stand)
        results.models[label] = ModelResults(summary=summary, examples=ex)
    with tempfile.TemporaryDirectory() as tmp:
        files = write_files(results, Path(tmp))
        store.put_bytes(f"{base}/results.json", files.results_json.read_bytes())
        store.put_bytes(f"{base}/{REPORT}", files.report_html.read_bytes())
    return results


def judge_info(automated: AutomatedEvaluationConfig) -> Any:
    from stillhouse.evaluate.judge import JudgeRubric
    from stillhouse.evaluate.results import JudgeInfo

    custom = automated.customMetricConfig
    if custom is None:
        return None
    definition = custom.customMetrics[0].customMetricDefinition
    return JudgeInfo(
        model=custom.evaluatorModelConfig.bedrockEvaluatorModels[0].modelIdentifier,
        rubric=JudgeRubric.model_validate(definition.model_dump(exclude_none=True)),
    )
