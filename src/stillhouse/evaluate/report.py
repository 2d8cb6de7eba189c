"""Write an evaluation: ``results.json`` and a self-contained ``report.html``.

The HTML embeds every figure as a base64 PNG and its styles inline, so it opens from disk in any
browser without a network. Callers (the demo) may add their own figures (training loss curves, the
weight distribution of a data set) as PNG files with captions.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import NotFoundError
from stillhouse.evaluate.results import EvaluationResults, ModelResults
from stillhouse.evaluate.table import fmt, summary_table


class ExtraFigure(BaseModel):
    """A PNG made elsewhere, shown in the report under ``caption``."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    caption: str


class ReportFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")

    results_json: Path
    report_html: Path


def write_report(
    results: EvaluationResults,
    out_dir: str | Path,
    *,
    extra_figures: Sequence[ExtraFigure | tuple[str | Path, str]] = (),
) -> ReportFiles:
    """Write ``out_dir/results.json`` and ``out_dir/report.html``; returns both paths."""
    from stillhouse.evaluate.figures import FIGURES

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    extras = [
        e if isinstance(e, ExtraFigure) else ExtraFigure(path=Path(e[0]), caption=e[1]) for e in extra_figures
    ]
    for extra in extras:
        if not extra.path.is_file():
            raise NotFoundError(f"figure {extra.path} does not exist", field="extra_figures")
    figures = [(title, draw(results)) for title, draw in FIGURES]
    figures += [(extra.caption, extra.path.read_bytes()) for extra in extras]
    json_path = out / "results.json"
    json_path.write_text(results.model_dump_json(indent=2), encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(render_html(results, [(t, png) for t, png in figures if png]), encoding="utf-8")
    return ReportFiles(results_json=json_path, report_html=html_path)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
td.text{text-align:left;max-width:28rem;overflow-wrap:anywhere;font-family:monospace;font-size:.8rem}
figure{margin:1.5rem 0}img{max-width:100%}figcaption{color:#555}
.bad{background:#fde8e8}
"""


def render_html(results: EvaluationResults, figures: Sequence[tuple[str, bytes]]) -> str:
    """The report page (pure: results and PNG bytes in, HTML text out)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>stillhouse evaluation: {html.escape(results.task)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Evaluation: {html.escape(results.task)}</h1>",
        _overview(results),
        _summary_table(results),
    ]
    for title, png in figures:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(title)}' src=\"data:image/png;base64,{encoded}\">"
            f"<figcaption>{html.escape(title)}</figcaption></figure>"
        )
    parts += [_examples(label, r) for label, r in results.models.items()]
    parts.append("</body></html>")
    return "\n".join(parts)


def _overview(results: EvaluationResults) -> str:
    judge = (
        f"judge <b>{html.escape(results.judge.model)}</b> with rubric <b>{html.escape(results.judge.rubric.name)}</b>"
        if results.judge
        else "no LLM judge"
    )
    skipped = "".join(f"<li>{html.escape(s)}</li>" for s in results.unreadable + results.skipped)
    return (
        f"<p>{results.n_records} held-out records, {len(results.skipped)} skipped, "
        f"{len(results.unreadable)} unreadable lines; {judge}; "
        f"created {html.escape(results.created_at)}; prices from "
        f"{html.escape(results.prices_source or 'none')} ({html.escape(results.currency)}).</p>"
        + (
            f"<details><summary>Skipped records and lines</summary><ul>{skipped}</ul></details>"
            if skipped
            else ""
        )
    )


def _summary_table(results: EvaluationResults) -> str:
    table = summary_table(results)
    head = "".join(f"<th>{html.escape(title)}</th>" for title in table.columns)
    rows = [
        f"<tr><td>{html.escape(label)}</td>{''.join(f'<td>{html.escape(c)}</td>' for c in cells)}</tr>"
        for label, cells in table.rows.items()
    ]
    return f"<table><tr><th>model</th>{head}</tr>{''.join(rows)}</table>"


def _examples(label: str, result: ModelResults) -> str:
    rows = []
    for e in result.examples:
        score = ", ".join(f"{k}={v:.3g}" for k, v in e.scores.items() if v is not None)
        judge = "" if e.judge is None else fmt(e.judge.score, "{:g}")
        css = " class='bad'" if not e.valid else ""
        rows.append(
            f"<tr{css}><td class='text'>{html.escape(e.query)}</td>"
            f"<td class='text'>{html.escape(e.prediction or (e.error or ''))}</td>"
            f"<td class='text'>{html.escape(e.reference)}</td><td>{html.escape(score)}</td>"
            f"<td>{judge}</td><td>{e.latency_ms:.1f}</td></tr>"
        )
    return (
        f"<details><summary>Predictions of {html.escape(label)} ({len(result.examples)})</summary>"
        "<table><tr><th>query</th><th>prediction</th><th>reference</th><th>scores</th><th>judge</th>"
        f"<th>ms</th></tr>{''.join(rows)}</table></details>"
    )
