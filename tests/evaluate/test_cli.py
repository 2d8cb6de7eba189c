from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stillhouse.models
from stillhouse.cli import app
from stillhouse.errors import OutputPathError
from stillhouse.models.fake import FakeModel

from .conftest import HELDOUT, reference_text


@pytest.fixture
def heldout_file(tmp_path):
    lines = [
        json.dumps(
            {
                "schemaVersion": "bedrock-conversation-2024",
                "messages": [
                    {"role": "user", "content": [{"text": q}]},
                    {"role": "assistant", "content": [{"text": reference_text(w, q)}]},
                ],
            }
        )
        for q, w in HELDOUT
    ]
    lines.insert(2, "{broken json")
    path = tmp_path / "heldout.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def fake_models(monkeypatch):
    """``load_model`` returns scripted models: ``perfect`` answers references, the judge grades 4."""
    answers = {q: reference_text(w, q) for q, w in HELDOUT}
    made: dict[str, FakeModel] = {}

    def load_model(spec: str):
        if spec == "perfect":
            made[spec] = FakeModel(lambda m, p: answers[m[-1].content], name=spec)
        elif spec == "judge":
            made[spec] = FakeModel(['{"reasoning": "close", "score": 4}'], name=spec)
        else:
            made[spec] = FakeModel(["I cannot help with that."], name=spec)
        return made[spec]

    monkeypatch.setattr(stillhouse.models, "load_model", load_model)
    return made


def test_json_summary_has_the_headline_keys(heldout_file, fake_models, tmp_path, stillhouse_home):
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(heldout_file),
            "--model",
            "perfect",
            "--model",
            "base=smollm2-135m",
            "--judge",
            "judge",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["models"]) == {"perfect", "base"}
    for row in summary["models"].values():
        assert {
            "rubric_mean",
            "weight_mae",
            "dominant_accuracy",
            "validity",
            "p50_ms",
            "p95_ms",
            "judge_mean",
            "tokens_total",
            "cost_per_1k_queries",
        } <= set(row)
    assert summary["models"]["perfect"]["rubric_mean"] == 5.0
    assert summary["models"]["base"]["validity"] == 0.0
    assert summary["models"]["perfect"]["judge_mean"] == 4.0
    # Shipped table: a self-hosted model costs its measured core-seconds at the default core-hour
    # rate (tokens are free), shown beside Nova Micro's on-demand price for the same tokens.
    perfect = summary["models"]["perfect"]
    assert perfect["core_seconds_mean"] > 0
    assert perfect["cost_per_1k_queries"] == pytest.approx(
        1000 * perfect["core_seconds_mean"] / 3600 * 0.0446
    )
    assert perfect["stand_in"] == "amazon.nova-micro-v1:0" and perfect["stand_in_cost_per_1k_queries"] > 0
    assert (out / "results.json").is_file() and (out / "report.html").is_file()
    assert "line 3" in result.stderr  # the broken line is reported, the rest evaluated
    assert summary["unreadable"][0].startswith("line 3: record: invalid JSON")
    assert len(fake_models["perfect"].calls) == 4 + 1  # one untimed warm-up call by default


def test_limit_and_table_output(heldout_file, fake_models, tmp_path, stillhouse_home):
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(heldout_file),
            "--model",
            "perfect",
            "--out",
            str(tmp_path),
            "--limit",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "perfect" in result.stdout and "rubric" in result.stdout
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["models"]["perfect"]["summary"]["n"] == 2


def test_training_loss_curves_join_the_report(heldout_file, fake_models, tmp_path, stillhouse_home):
    run = tmp_path / "run1"
    (run / "training_artifacts").mkdir(parents=True)
    (run / "training_artifacts" / "loss_curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    args = ["evaluate", "--data", str(heldout_file), "--model", "perfect", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, [*args, "--training-dir", str(run)])
    assert result.exit_code == 0, result.output
    assert "Training loss: run1" in (tmp_path / "o" / "report.html").read_text()
    missing = CliRunner().invoke(app, [*args, "--training-dir", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "loss_curve.png" in str(missing.exception)


def test_duplicate_labels_are_refused(heldout_file, fake_models, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--data",
            str(heldout_file),
            "--model",
            "perfect",
            "--model",
            "perfect",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0
    assert "labelled 'perfect'" in str(result.exception)


def test_a_heldout_file_with_no_readable_record_is_refused(fake_models, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text("{broken json\n[]\n")
    args = ["evaluate", "--data", str(data), "--model", "perfect", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and not (tmp_path / "o").exists()
    assert "holds no readable record (2 bad lines)" in str(result.exception)


def test_an_out_under_a_file_is_refused_before_any_model_runs(heldout_file, fake_models, tmp_path):
    (tmp_path / "file").write_text("x")
    args = [
        "evaluate",
        "--data",
        str(heldout_file),
        "--model",
        "perfect",
        "--out",
        str(tmp_path / "file" / "o"),
    ]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, OutputPathError), result.output
    assert fake_models == {}  # no model was even loaded


def test_results_survive_a_write_that_fails_at_the_end(heldout_file, fake_models, tmp_path, monkeypatch):
    import stillhouse.evaluate.report as report

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "o" / "results.json"))

    monkeypatch.setattr(report, "write_report", full_disk)
    args = ["evaluate", "--data", str(heldout_file), "--model", "perfect", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, OutputPathError), result.output
    message = str(result.exception)
    assert "No space left on device" in message
    saved = Path(message.rsplit("saved in ", 1)[1])
    try:
        assert json.loads(saved.read_text())["models"]["perfect"]["summary"]["n"] == len(HELDOUT)
    finally:
        saved.unlink()
