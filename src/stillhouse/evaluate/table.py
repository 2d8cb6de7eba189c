"""THE summary table of an evaluation: one row per model, one cell per headline figure.

Pure: results in, strings out. The HTML report renders these rows as ``<table>``; ``stillhouse
evaluate`` and the recipes print :func:`render_text`. So every place that shows an evaluation
shows the same figures with the same formatting.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from stillhouse.evaluate.results import EvaluationResults

# (ModelSummary field, column title, format) in the order shown.
COLUMNS = (
    ("rubric_mean", "rubric (1-5)", "{:.2f}"),
    ("judge_mean", "judge", "{:.2f}"),
    ("weight_mae", "weight MAE", "{:.3f}"),
    ("dominant_accuracy", "dominant acc.", "{:.1%}"),
    ("jaccard_mean", "keyword Jaccard", "{:.3f}"),
    ("keyword_f1", "keyword F1", "{:.3f}"),
    ("validity", "valid JSON", "{:.1%}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p95_ms", "p95 ms", "{:.1f}"),
    ("input_tokens_mean", "in tok/query", "{:.1f}"),
    ("output_tokens_mean", "out tok/query", "{:.1f}"),
    ("cost_per_1k_queries", "cost / 1K queries", "{:.4g}"),
    ("stand_in_cost_per_1k_queries", "Bedrock stand-in / 1K", "{:.4g}"),
    ("failed_calls", "failed calls", "{}"),
)


# Columns of one task's figures, shown only when some model has them (the judge's when judged).
TASK_COLUMNS = ("jaccard_mean", "keyword_f1")


def _shown(results: EvaluationResults, key: str) -> bool:
    if key == "judge_mean":
        return results.judge is not None
    return key not in TASK_COLUMNS or any(
        getattr(r.summary, key) is not None for r in results.models.values()
    )


def fmt(value: object, pattern: str) -> str:
    """A table cell: ``n/a`` for what was not measured."""
    return "n/a" if value is None else pattern.format(value)


class SummaryTable(BaseModel):
    """The formatted cells: ``rows[label]`` holds one model's cells in ``columns`` order."""

    model_config = ConfigDict(extra="forbid")

    columns: list[str]
    rows: dict[str, list[str]]


def summary_table(results: EvaluationResults) -> SummaryTable:
    """The headline figures of every model (the judge's column only when a judge scored)."""
    columns = [c for c in COLUMNS if _shown(results, c[0])]
    return SummaryTable(
        columns=[title for _, title, _ in columns],
        rows={
            label: [fmt(getattr(r.summary, key), pattern) for key, _, pattern in columns]
            for label, r in results.models.items()
        },
    )


def render_text(table: SummaryTable, title: str = "") -> str:
    """Plain text, one line per figure and one column per model: a few models fit a narrow terminal
    where eleven figures side by side would not."""
    head = ["metric", *table.rows]
    lines = [[title_, *(cells[i] for cells in table.rows.values())] for i, title_ in enumerate(table.columns)]
    widths = [max(len(row[j]) for row in [head, *lines]) for j in range(len(head))]

    def line(row: list[str]) -> str:
        first, *rest = row
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        )

    body = [line(head), "  ".join("-" * w for w in widths), *(line(row) for row in lines)]
    return "\n".join(([title] if title else []) + body)
