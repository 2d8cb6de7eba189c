"""benchmarks/bench_short_reasoning.py end to end on a tiny student: it trains one short-reasoning
student from a demo run's records, evaluates both students interleaved, and a rerun trains nothing."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from stillhouse.models.manifest import StudentFormat, read_manifest, write_manifest
from stillhouse.recipes import video_router
from stillhouse.recipes.video_router import DemoConfig, Layout

pytestmark = pytest.mark.model

BENCH = Path(__file__).parents[2] / "benchmarks" / "bench_short_reasoning.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_short_reasoning", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _demo_run(root: Path, tiny: Path) -> Path:
    """What a finished demo leaves that the bench reads: records, held-out set, student, summary."""
    from stillhouse.records.jsonl import write_records
    from stillhouse.tasks.video_router.golden import load_dev, load_golden

    layout = Layout(root=root)
    layout.verified.parent.mkdir(parents=True)
    write_records(layout.verified, load_golden()[:10])
    write_records(layout.heldout, load_dev()[:3])
    shutil.copytree(tiny, layout.student)  # today's student: served in the student format
    write_manifest(layout.student, "video-router")
    config = DemoConfig(
        out=root,
        student=str(tiny),
        hyperparameters={"epochCount": "1", "batchSize": "8"},
        teacher_max_tokens=16,
        student_max_tokens=16,
    )
    (root / "summary.json").write_text(json.dumps({"config": config.model_dump(mode="json")}))
    return root


def test_the_bench_trains_one_short_student_evaluates_both_interleaved_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from tests.train.conftest import build_tiny_student

    from stillhouse.evaluate import run as evaluate_run

    run = _demo_run(tmp_path / "demo", build_tiny_student(tmp_path / "tiny"))
    calls: list[str] = []
    answer = evaluate_run.run_model

    def spy(task, label, model, cases, params, **kwargs):
        calls.append(label)
        return answer(task, label, model, cases, params, **kwargs)

    monkeypatch.setattr(evaluate_run, "run_model", spy)
    bench = _bench()
    argv = ["--run", str(run), "--reasoning-chars", "24", "--steps", "1", "--limit", "8", "--decimals", "1"]
    results = bench.main([*argv, "--quiet"])

    short = run / "short-reasoning-24"
    assert len((short / "data" / "train-verified.jsonl").read_text().splitlines()) == 8  # --limit
    manifest = read_manifest(short / "models" / "student")
    assert manifest is not None and manifest.trained_on == StudentFormat(reasoning_chars=24)
    assert manifest.decoding.max_string_chars == 24
    labels = ["today", "short-reasoning", "short-reasoning+1dp"]
    assert list(results.models) == labels and all(m.summary.n == 3 for m in results.models.values())
    # One untimed call each, then one query each in turn, the order rotated per query.
    assert calls == [*labels, *labels, *labels[1:], labels[0], labels[2], *labels[:2]]
    assert results.params["max_tokens"] == 16  # the demo's evaluation settings
    saved = json.loads((short / "results-1dp.json").read_text())
    assert saved["models"]["short-reasoning"]["summary"]["n"] == 3
    printed = capsys.readouterr().out
    assert "load average before" in printed and "p50" in printed and "dominant acc." in printed

    monkeypatch.setattr(video_router, "train_student", lambda *a, **k: pytest.fail("trained again"))
    again = bench.main(["--run", str(run), "--reasoning-chars", "24", "--heldout", "1", "--quiet"])
    assert list(again.models) == labels[:2] and again.models["today"].summary.n == 1
    assert "is published; not training it again" in capsys.readouterr().out
