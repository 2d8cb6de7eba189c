"""Tasks: the video search router (``video-router``) and image keyword labelling (``image-keywords``).

``get_task(name)`` finds one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from stillhouse.errors import InvalidInputError
from stillhouse.tasks.base import ParseResult, Task

__all__ = ["ParseResult", "Task", "detect_task", "get_task", "task_names"]

# name -> "module:attribute", imported on first use so the CLI stays light.
_REGISTRY: dict[str, str] = {
    "image-keywords": "stillhouse.tasks.image_keywords:ImageKeywordsTask",
    "video-router": "stillhouse.tasks.video_router:VideoRouterTask",
}


def task_names() -> list[str]:
    return sorted(_REGISTRY)


def get_task(name: str) -> Task:
    """The task called ``name`` (e.g. ``video-router``)."""
    import importlib

    if name not in _REGISTRY:
        raise InvalidInputError(f"unknown task {name!r}; known: {', '.join(task_names())}", field="task")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)()


def detect_task(system_prompts: Iterable[str]) -> Task | None:
    """The registered task whose system prompt most of ``system_prompts`` use, if any.

    A Bedrock job request names no task, but records written for a task carry its system prompt
    verbatim; recognising it lets a job decode under the task's schema and validate the answers.
    """
    counts = Counter(text.strip() for text in system_prompts if text.strip())
    if not counts:
        return None
    text, used = counts.most_common(1)[0]
    if used * 2 <= sum(counts.values()):
        return None
    return next((task for task in map(get_task, task_names()) if task.system_prompt.strip() == text), None)
