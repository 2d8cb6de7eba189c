"""The one summary table: the cells the HTML report, `stillhouse evaluate` and the recipes show."""

from __future__ import annotations

import pytest

from stillhouse.evaluate import EvaluationResults, evaluate_models
from stillhouse.evaluate.report import render_html
from stillhouse.evaluate.table import COLUMNS, TASK_COLUMNS, SummaryTable, fmt, render_text, summary_table
from stillhouse.models.fake import FakeModel
from stillhouse.tasks import get_task

from .conftest import HELDOUT, record, reference_text


@pytest.fixture(scope="module")
def results() -> EvaluationResults:
    records = [record(q, reference_text(w, q)) for q, w in HELDOUT]
    answers = {q: reference_text(w, q) for q, w in HELDOUT}
    perfect = FakeModel(lambda m, p: answers[m[-1].content], name="perfect")
    broken = FakeModel(["no json here"], name="broken")
    return evaluate_models(
        get_task("video-router"), records, {"perfect": perfect, "broken": broken}, show_progress=False
    )


def test_fmt_says_n_a_for_what_was_not_measured() -> None:
    assert fmt(None, "{:.2f}") == "n/a"
    assert fmt(0.875, "{:.1%}") == "87.5%"
    assert fmt(0, "{}") == "0"


def test_one_row_per_model_one_cell_per_column_and_no_judge_column_without_a_judge(results) -> None:
    table = summary_table(results)
    assert list(table.rows) == ["perfect", "broken"]
    assert "judge" not in table.columns
    assert table.columns == [title for key, title, _ in COLUMNS if key not in ("judge_mean", *TASK_COLUMNS)]
    assert all(len(cells) == len(table.columns) for cells in table.rows.values())
    by_title = {label: dict(zip(table.columns, cells, strict=True)) for label, cells in table.rows.items()}
    assert by_title["perfect"]["valid JSON"] == "100.0%" and by_title["broken"]["valid JSON"] == "0.0%"
    assert by_title["broken"]["weight MAE"] == "n/a"  # unscorable answers have no error to average


def test_a_judged_evaluation_gets_the_judge_column(results) -> None:
    from stillhouse.evaluate.judge import OVERALL_QUALITY
    from stillhouse.evaluate.results import JudgeInfo

    judged = results.model_copy(update={"judge": JudgeInfo(model="fake", rubric=OVERALL_QUALITY)})
    assert "judge" in summary_table(judged).columns


def test_text_has_a_title_a_header_of_models_and_one_aligned_line_per_figure() -> None:
    table = SummaryTable(
        columns=["rubric (1-5)", "p50 ms"], rows={"teacher": ["3.87", "4185.0"], "s": ["4.04", "n/a"]}
    )
    lines = render_text(table, "Held-out set").splitlines()
    assert lines == [
        "Held-out set",
        "metric        teacher     s",
        "------------  -------  ----",
        "rubric (1-5)     3.87  4.04",
        "p50 ms         4185.0   n/a",
    ]
    assert len({len(line) for line in lines[1:]}) == 1  # columns padded to one width
    assert render_text(table).splitlines()[0].startswith("metric")  # no title line without a title


def test_the_html_report_shows_the_same_cells(results) -> None:
    page = render_html(results, [])
    for label, cells in summary_table(results).rows.items():
        assert f"<tr><td>{label}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" in page


def test_an_image_keyword_evaluation_gets_its_jaccard_and_f1_columns() -> None:
    from stillhouse.evaluate.results import EvaluationResults, ExampleResult, ModelResults, summarize

    examples = [
        ExampleResult(
            index=i,
            query="",
            reference="",
            prediction="",
            latency_ms=1.0,
            valid=True,
            scores={"jaccard": j, "f1": f},
        )
        for i, (j, f) in enumerate([(0.25, 0.4), (0.75, 0.8)])
    ]
    results = EvaluationResults(task="image-keywords", created_at="now", n_records=2)
    results.models["student"] = ModelResults(
        summary=summarize("student", "m", examples, priced=None), examples=examples
    )
    table = summary_table(results)
    cells = dict(zip(table.columns, table.rows["student"], strict=True))
    assert cells["keyword Jaccard"] == "0.500" and cells["keyword F1"] == "0.600"
