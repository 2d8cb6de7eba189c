"""The report's figures, drawn with matplotlib's object API (no pyplot, no global backend switch).

Each function takes the evaluation results and returns PNG bytes, or ``None`` when the figure would
be empty (e.g. no model has a price). matplotlib is imported inside, so importing this module is cheap.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from typing import TYPE_CHECKING

from stillhouse.evaluate.results import HEADLINE_KEYS, EvaluationResults, ExampleResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _new_figure(width: float = 7.0, height: float = 3.6) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _rubric_score(example: ExampleResult) -> float | None:
    for key in HEADLINE_KEYS["rubric_mean"]:
        if example.scores.get(key) is not None:
            return example.scores[key]
    return None


def _grouped_bars(ax: Axes, categories: list[str], series: dict[str, list[float]]) -> None:
    """Bars for each category, one colour per model, side by side."""
    width = 0.8 / max(len(series), 1)
    for offset, (label, values) in enumerate(series.items()):
        xs = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(xs, values, width=width, label=label)
    ax.set_xticks(range(len(categories)), categories)
    ax.legend(fontsize=8)


def score_distribution(results: EvaluationResults) -> bytes | None:
    """Share of predictions at each rubric score (and judge score, when judged), per model."""
    panels = [("deterministic rubric", _rubric_score)]
    if results.judge is not None:
        panels.append(("LLM judge", lambda e: e.judge.score if e.judge else None))
    fig = _new_figure(7.0, 3.4 * len(panels))
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    drawn = False
    for ax, (title, get) in zip(axes, panels, strict=True):
        counts = {label: Counter(get(e) for e in r.examples) for label, r in results.models.items()}
        values = sorted({v for c in counts.values() for v in c if v is not None})
        if not values:
            ax.set_axis_off()
            continue
        drawn = True
        series = {label: [c[v] / max(sum(c.values()), 1) for v in values] for label, c in counts.items()}
        _grouped_bars(ax, [f"{v:g}" for v in values], series)
        ax.set_title(f"Score distribution ({title})")
        ax.set_ylabel("share of queries")
    return _png(fig) if drawn else None


def field_error(results: EvaluationResults) -> bytes | None:
    """Mean absolute error per answer field (per modality for the router), per model."""
    fields = sorted({f for r in results.models.values() for f in r.summary.field_mae})
    if not fields:
        return None
    fig = _new_figure()
    ax = fig.subplots()
    # NaN draws no bar: a model with nothing scorable has no error, which is not an error of 0.
    series = {
        label: [_or_nan(r.summary.field_mae.get(f)) for f in fields] for label, r in results.models.items()
    }
    _grouped_bars(ax, fields, series)
    ax.set_title("Mean absolute error per field (scorable answers)")
    ax.set_ylabel("mean |prediction - reference|")
    return _png(fig)


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def latency_distribution(results: EvaluationResults) -> bytes | None:
    """Per-query latency per model (box: quartiles; whiskers: 5th–95th percentile)."""
    labels = list(results.models)
    data = [[e.latency_ms for e in results.models[label].examples] for label in labels]
    if not any(data):
        return None
    fig = _new_figure(7.0, 0.6 * len(labels) + 1.8)
    ax = fig.subplots()
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=True)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    positive = [v for row in data for v in row if v > 0]
    if positive and max(positive) / max(min(positive), 1e-3) > 50:
        ax.set_xscale("log")  # a fast router and an LLM differ by orders of magnitude
    ax.set_xlabel("latency per query (ms)")
    ax.set_title("Latency distribution")
    return _png(fig)


def cost_per_1k(results: EvaluationResults) -> bytes | None:
    """Cost of 1,000 queries per priced model, and beside a local model the same tokens at the
    on-demand price of the Bedrock model it stands in for."""
    priced: dict[str, float] = {}
    for label, r in results.models.items():
        if r.summary.cost_per_1k_queries is not None:
            priced[label] = r.summary.cost_per_1k_queries
        if r.summary.stand_in and r.summary.stand_in_cost_per_1k_queries is not None:
            priced[f"{label} as {r.summary.stand_in}"] = r.summary.stand_in_cost_per_1k_queries
    if not priced:
        return None
    fig = _new_figure(7.0, 0.6 * len(priced) + 1.8)
    ax = fig.subplots()
    ax.barh(list(priced), list(priced.values()))
    for y, value in enumerate(priced.values()):
        ax.annotate(f"{value:.4g}", (value, y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set_xlabel(f"{results.currency} per 1,000 queries")
    ax.set_title("Cost per 1K queries (measured tokens and core-seconds x price table)")
    return _png(fig)


FIGURES = (
    ("Score distribution", score_distribution),
    ("Error per field", field_error),
    ("Latency distribution", latency_distribution),
    ("Cost per 1K queries", cost_per_1k),
)


def example_score_histogram(results: EvaluationResults, key: str, *, bins: int = 10) -> bytes | None:
    """Per model, the share of examples in each tenth of a score in [0, 1] (e.g. the image keyword
    task's per-image ``jaccard``, as the seed plots it); ``None`` when no example has the score."""
    edges = [i / bins for i in range(bins + 1)]
    series: dict[str, list[float]] = {}
    for label, r in results.models.items():
        values = [e.scores[key] for e in r.examples if e.scores.get(key) is not None]
        if values:
            counts = Counter(min(int(v * bins), bins - 1) for v in values)  # 1.0 joins the last bin
            series[label] = [counts[b] / len(values) for b in range(bins)]
    if not series:
        return None
    fig = _new_figure()
    ax = fig.subplots()
    _grouped_bars(ax, [f"{lo:.1f}" for lo in edges[:-1]], series)
    ax.set_title(f"Distribution of {key} per model")
    ax.set_xlabel(f"{key} (bin start)")
    ax.set_ylabel("share of examples")
    return _png(fig)


def learning_curve(points: dict[int, float], *, ylabel: str) -> bytes:
    """A score against training-set size (0: the base model before training)."""
    fig = _new_figure()
    ax = fig.subplots()
    sizes = sorted(points)
    ax.plot(sizes, [points[n] for n in sizes], marker="o")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.set_title(f"{ylabel} against training-set size")
    ax.set_xlabel("training records (0: base student)")
    ax.set_ylabel(ylabel)
    return _png(fig)
