from __future__ import annotations

import json

import pytest

from stillhouse.errors import NotFoundError
from stillhouse.evaluate import EvaluationResults, evaluate_models, write_report
from stillhouse.evaluate.prices import ModelPrice, PriceTable
from stillhouse.models.fake import FakeModel
from stillhouse.tasks import get_task

from .conftest import record, reference_text

PNG_TAG = "<img alt='{}' src=\"data:image/png;base64,"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> EvaluationResults:
    from .conftest import HELDOUT

    records = [record(q, reference_text(w, q)) for q, w in HELDOUT]
    records.append(record("<script>alert(1)</script>", reference_text(HELDOUT[0][1], "x")))
    answers = {q: reference_text(w, q) for q, w in HELDOUT}
    perfect = FakeModel(lambda m, p: answers.get(m[-1].content, answers[HELDOUT[0][0]]), name="perfect")
    broken = FakeModel(["no json here"], name="broken")
    prices = PriceTable(models=[ModelPrice(match="*", input_per_1k=0.001, output_per_1k=0.002)])
    return evaluate_models(
        get_task("video-router"),
        records,
        {"perfect": perfect, "broken": broken},
        prices=prices,
        show_progress=False,
    )


def test_report_embeds_every_figure_and_round_trips(results, tmp_path):
    files = write_report(results, tmp_path / "out")
    page = files.report_html.read_text(encoding="utf-8")
    for title in ("Score distribution", "Error per field", "Latency distribution", "Cost per 1K queries"):
        assert PNG_TAG.format(title) in page
    assert "http://" not in page and "https://" not in page  # opens offline
    assert EvaluationResults.model_validate_json(files.results_json.read_text()) == results
    assert json.loads(files.results_json.read_text())["models"]["broken"]["summary"]["validity"] == 0.0


def test_queries_are_escaped(results, tmp_path):
    page = write_report(results, tmp_path).report_html.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


def test_extra_figures_are_embedded_with_captions(results, tmp_path):
    png = tmp_path / "loss.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    page = write_report(
        results, tmp_path / "r", extra_figures=[(png, "Training loss")]
    ).report_html.read_text()
    assert PNG_TAG.format("Training loss") + "iVBORw0KGgpmYWtl" in page
    with pytest.raises(NotFoundError):
        write_report(results, tmp_path / "r2", extra_figures=[(tmp_path / "nope.png", "x")])


def test_unpriced_results_skip_the_cost_figure(tmp_path):
    from .conftest import HELDOUT

    records = [record(q, reference_text(w, q)) for q, w in HELDOUT]
    unpriced = evaluate_models(
        get_task("video-router"), records, {"m": FakeModel(["nope"])}, show_progress=False
    )
    page = write_report(unpriced, tmp_path).report_html.read_text()
    assert PNG_TAG.format("Latency distribution") in page
    assert PNG_TAG.format("Cost per 1K queries") not in page
    assert PNG_TAG.format("Error per field") not in page  # no valid answer: nothing to compare
