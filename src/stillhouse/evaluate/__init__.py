"""Evaluation: run models over a held-out set, score them (deterministic rubric, generic metrics, an
optional LLM judge), and write ``results.json`` plus a self-contained HTML report.

Light to import: matplotlib loads only when a report is drawn.
"""

from stillhouse.evaluate.judge import OVERALL_QUALITY, Judge, JudgeRubric, builtin_rubric, load_rubric
from stillhouse.evaluate.prices import PriceTable, load_prices
from stillhouse.evaluate.report import ExtraFigure, write_report
from stillhouse.evaluate.results import EvaluationResults, ModelSummary
from stillhouse.evaluate.run import default_params, evaluate_models

__all__ = [
    "OVERALL_QUALITY",
    "EvaluationResults",
    "ExtraFigure",
    "Judge",
    "JudgeRubric",
    "ModelSummary",
    "PriceTable",
    "builtin_rubric",
    "default_params",
    "evaluate_models",
    "load_prices",
    "load_rubric",
    "write_report",
]
