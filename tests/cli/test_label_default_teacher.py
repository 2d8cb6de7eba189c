"""`stillhouse label --task video-router` exactly as a user first runs it: no teacher option, so the
real default teacher (TeacherConfig's model, the packaged Qwen2.5-Coder-1.5B through llama.cpp).

Minutes on a 2-core machine (loading the 1.5B model and three real answers), so ``slow``: it runs
under ``make test-all``, not ``make test``; the fast tiers use scripted teachers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stillhouse import paths
from stillhouse.tasks import get_task
from stillhouse.tasks.video_router.golden import load_dev
from stillhouse.teacher.build import TeacherConfig

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _label(prompts: Path, out: Path, env: dict[str, str]) -> dict:
    command = [sys.executable, "-m", "stillhouse", "label", str(prompts), "--task", "video-router"]
    result = subprocess.run(
        [*command, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=840,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_label_with_the_default_teacher_answers_valid_router_json_and_a_rerun_costs_nothing(
    tmp_path: Path,
) -> None:
    assert TeacherConfig().model == "qwen2.5-coder-1.5b"  # what "no teacher option" means here
    dev = load_dev()[:3]
    queries = [record.messages[0].text for record in dev]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        "".join(
            json.dumps(
                {
                    "schemaVersion": "bedrock-conversation-2024",
                    "system": [{"text": record.system_text}],
                    "messages": [{"role": "user", "content": [{"text": query}]}],
                }
            )
            + "\n"
            for record, query in zip(dev, queries, strict=True)
        ),
        encoding="utf-8",
    )
    # A private cache (a cold first run), the models already assembled on this machine.
    env = {
        **os.environ,
        "STILLHOUSE_HOME": str(tmp_path / "home"),
        "STILLHOUSE_MODELS": str(paths.models_dir()),
    }

    first = _label(prompts, tmp_path / "labelled.jsonl", env)
    assert first["labelled"] == 3 and first["failed"] == 0 and first["teacher_calls"] >= 3

    task = get_task("video-router")
    lines = [json.loads(line) for line in (tmp_path / "labelled.jsonl").read_text().splitlines()]
    assert [line["messages"][0]["content"][0]["text"] for line in lines] == queries
    for line in lines:
        answer = line["messages"][-1]
        assert answer["role"] == "assistant"
        parsed = task.parse(answer["content"][0]["text"])
        assert parsed.ok, parsed

    # A new output file, so nothing is resumed from it: every answer must come from the cache.
    rerun = _label(prompts, tmp_path / "again.jsonl", env)
    assert rerun["labelled"] == 3 and rerun["from_cache"] == 3 and rerun["teacher_calls"] == 0
