"""The main job end to end at toy sizes, with real packaged models: every artifact, and a rerun that
pays for no teacher answer and trains nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillhouse import paths
from stillhouse.recipes.video_router import DemoConfig, run_demo

pytestmark = pytest.mark.integration


@pytest.fixture
def tiny_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DemoConfig:
    """Toy sizes; a private teacher cache, the assembled models shared with the other tests."""
    monkeypatch.setenv("STILLHOUSE_MODELS", str(paths.models_dir()))
    monkeypatch.setenv("STILLHOUSE_HOME", str(tmp_path / "home"))
    return DemoConfig(
        out=tmp_path / "demo",
        teacher="smollm2-135m",  # the smallest packaged model stands in for the 1.5B teacher
        embedder="hashing",
        train_queries=4,
        router_queries=30,
        heldout=3,
        shots=2,
        teacher_max_tokens=48,
        student_max_tokens=48,
        hyperparameters={"epochCount": "1", "learningRate": "0.0001", "batchSize": "16"},
        progress=False,
        search=False,  # the video search stage has tests of its own (test_demo_search_stage.py)
    )


def test_demo_writes_every_artifact_and_a_rerun_reuses_the_teacher_and_the_student(
    tiny_demo: DemoConfig,
) -> None:
    lines: list[str] = []
    summary = run_demo(tiny_demo, log=lines.append)
    out = tiny_demo.out
    for name in ("report.html", "results.json", "summary.json", "vs-teacher/report.html"):
        assert (out / name).is_file(), name
    student = out / "models" / "student"
    assert (student / "model.gguf").is_file() and (student / "stillhouse.json").is_file()
    assert (out / "models" / "fast-router").is_dir()
    assert summary["labelling"]["teacher_calls"] >= 4 and summary["labelling"]["golden_kept"] == 125
    assert set(summary["vs_human"]) == {"teacher", "base-student", "distilled-student", "fast-router"}
    assert any("distilled-student" in line for line in lines)  # the printed comparison table
    assert summary["search"] is None and "search" not in summary["seconds"]  # the stage turned off

    # Every synthesized query's intent is kept; answers are verified against it; the fast router also
    # learnt from the single-intent queries among the 30 router queries.
    intents = [
        json.loads(line)["intent"] for line in (out / "data" / "intents.jsonl").read_text().splitlines()
    ]
    assert len(intents) == 34
    single = sum(intent != "mixed" for intent in intents[4:])
    labelled = len((out / "data" / "train.jsonl").read_text().splitlines())
    verification = summary["verification"]
    assert verification["kept"] + verification["rejected"] == labelled
    assert len((out / "data" / "train-verified.jsonl").read_text().splitlines()) == verification["kept"]
    assert len((out / "data" / "rejected.jsonl").read_text().splitlines()) == verification["rejected"]
    assert summary["fast_router"]["examples"] == verification["kept"] + single > verification["kept"]

    # The distilled student was asked through its student format: a fraction of the prompt tokens.
    results = json.loads((out / "results.json").read_text())
    tokens = {
        name: sum(ex["input_tokens"] for ex in results["models"][name]["examples"])
        for name in ("base-student", "distilled-student")
    }
    assert 0 < tokens["distilled-student"] * 3 < tokens["base-student"]

    rerun = run_demo(tiny_demo, log=lambda _: None)
    assert rerun["labelling"]["teacher_calls"] == 0
    assert rerun["labelling"]["from_cache"] + rerun["labelling"]["resumed"] >= 4
    assert "train" not in rerun["seconds"]
