from __future__ import annotations

from stillhouse.tasks import detect_task
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT


def test_records_carrying_the_router_prompt_are_router_records():
    task = detect_task([SYSTEM_PROMPT, SYSTEM_PROMPT, "something else"])
    assert task is not None and task.name == "video-router"


def test_no_task_without_a_majority_prompt_or_for_unknown_prompts():
    assert detect_task([]) is None
    assert detect_task(["", "  "]) is None
    assert detect_task(["You write poems."] * 3) is None
    assert detect_task([SYSTEM_PROMPT, "a", "b"]) is None
