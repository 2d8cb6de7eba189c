"""`stillhouse generate-queries`, `verify-labels` and `plot-weights` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from stillhouse.cli import app
from stillhouse.sources.dataset import read_dataset
from stillhouse.tasks.video_router.golden import labelled_record, load_dev

runner = CliRunner()


def test_generate_queries_writes_valid_prompt_only_records(tmp_path):
    out = tmp_path / "q.jsonl"
    result = runner.invoke(
        app, ["generate-queries", "--n", "250", "--out", str(out), "--seed", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["queries"] == 250 and summary["by_intent"] == {k: 50 for k in summary["by_intent"]}
    assert len(summary["by_intent"]) == 5
    records, report = read_dataset(out)
    assert report.usable and report.valid == 250 and not any(r.is_labelled for r in records)
    again = tmp_path / "again.jsonl"
    assert (
        runner.invoke(app, ["generate-queries", "--n", "250", "--out", str(again), "--seed", "3"]).exit_code
        == 0
    )
    assert again.read_bytes() == out.read_bytes()  # deterministic


def test_generate_queries_text_output_and_bad_input(tmp_path):
    result = runner.invoke(app, ["generate-queries", "--n", "20", "--out", str(tmp_path / "q.jsonl")])
    assert result.exit_code == 0 and "wrote 20 queries" in result.stdout
    bad = runner.invoke(app, ["generate-queries", "--n", "0", "--out", str(tmp_path / "z.jsonl")])
    assert bad.exit_code != 0 and not (tmp_path / "z.jsonl").exists()


def test_verify_labels_drops_answers_against_the_design_intent(tmp_path):
    prompts, intents = tmp_path / "q.jsonl", tmp_path / "intents.jsonl"
    args = ["generate-queries", "--n", "10", "--out", str(prompts), "--intents", str(intents), "--seed", "3"]
    assert runner.invoke(app, args).exit_code == 0
    queries = [json.loads(line) for line in intents.read_text().splitlines()]
    single = [q for q in queries if q["intent"] != "mixed"]
    # A teacher that always answers "metadata": wrong for every single-intent query but metadata ones.
    answer = json.dumps(
        {"visual": 0.1, "audio": 0.1, "transcription": 0.1, "metadata": 0.7, "reasoning": "r"}
    )
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text(
        "".join(labelled_record(q["text"], answer).to_json() + "\n" for q in queries), encoding="utf-8"
    )
    out = tmp_path / "verified.jsonl"
    result = runner.invoke(
        app, ["verify-labels", str(labelled), "--intents", str(intents), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    wrong = sum(q["intent"] != "metadata" for q in single)
    assert summary["checked"] == len(single) and summary["rejected"] == wrong > 0
    assert summary["kept"] == len(queries) - wrong == len(out.read_text().splitlines())
    rejected = [json.loads(line) for line in Path(summary["rejected_to"]).read_text().splitlines()]
    assert {r["dominant"] for r in rejected} == {"metadata"}
    text = runner.invoke(app, ["verify-labels", str(labelled), "--intents", str(intents), "--out", str(out)])
    assert text.exit_code == 0 and f"rejected {wrong} of {len(single)}" in text.stdout


def test_plot_weights(tmp_path):
    source = tmp_path / "dev.jsonl"
    source.write_text("\n".join(r.to_json() for r in load_dev()) + "\n{broken\n", encoding="utf-8")
    out = tmp_path / "w.png"
    result = runner.invoke(app, ["plot-weights", str(source), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["answers"], summary["invalid_lines"], summary["unreadable_answers"]) == (
        len(load_dev()),
        1,
        0,
    )
    assert out.read_bytes()[:4] == b"\x89PNG"
