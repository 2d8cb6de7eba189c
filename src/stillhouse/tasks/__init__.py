"""Tasks: the video search router and image keyword labelling. ``get_task(name)`` finds one."""

from __future__ import annotations

from stillhouse.errors import InvalidInputError
from stillhouse.tasks.base import ParseResult, Task

__all__ = ["ParseResult", "Task", "get_task", "task_names"]

# name -> "module:attribute", imported on first use so the CLI stays light.
_REGISTRY: dict[str, str] = {
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
