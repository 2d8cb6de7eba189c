"""The demo's student format: DemoConfig's setting reaches the student's training records and its
published manifest; bad values are refused where the config is made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from stillhouse.models.manifest import StudentFormat
from stillhouse.recipes.video_router import DemoConfig, Layout, train_student


@pytest.mark.parametrize(
    "change",
    [
        {"student_format": {"reasoning_chars": 15}},
        {"student_format": {"reasoning_chars": 1001}},
        {"student_format": {"reasoning_chars": "short"}},
        {"student_format": {"words": 8}},
        {"student_steps": 0},
    ],
)
def test_a_bad_student_setting_is_refused(change: dict) -> None:
    with pytest.raises(ValidationError):
        DemoConfig(**change)


@pytest.mark.model
def test_the_reasoning_cap_reaches_the_training_records_and_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.train.conftest import build_tiny_student

    from stillhouse.models.manifest import read_manifest
    from stillhouse.records.jsonl import write_records
    from stillhouse.tasks import get_task
    from stillhouse.tasks.video_router.golden import load_golden
    from stillhouse.train import data

    layout = Layout(root=tmp_path / "demo")
    layout.verified.parent.mkdir(parents=True)
    write_records(layout.verified, load_golden()[:8])
    seen: list = []
    encode = data.encode_records

    def spy(records, **kwargs):
        seen.extend(records)
        return encode(records, **kwargs)

    monkeypatch.setattr(data, "encode_records", spy)
    config = DemoConfig(
        out=layout.root,
        student=str(build_tiny_student(tmp_path / "tiny")),
        student_format=StudentFormat(reasoning_chars=24),
        student_steps=1,
        hyperparameters={"epochCount": "1", "batchSize": "8"},
        progress=False,
    )
    result = train_student(config, layout)
    task = get_task("video-router")
    reasonings = [json.loads(r.answer)["reasoning"] for r in seen]
    assert len(seen) == 8 and all(r.system_text == task.student_prompt for r in seen)
    assert all(0 < len(text) <= 24 for text in reasonings) and reasonings[0] == "A purely visual scene."
    manifest = read_manifest(result.model_dir)
    assert manifest is not None and manifest.trained_on == StudentFormat(reasoning_chars=24)
    assert manifest.decoding.max_string_chars == 24
    assert result.steps == 1
