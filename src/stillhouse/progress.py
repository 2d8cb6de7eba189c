"""One progress bar for every long loop: counts, rate, ETA, on stderr so ``--json`` stays clean."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")


@contextmanager
def progress_bar(
    description: str, total: int | None, *, disable: bool = False
) -> Iterator[tuple[Progress, TaskID]]:
    """A rich progress bar; ``progress.update(task, advance=1, info="loss 1.23")`` moves it."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=disable,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")
        yield progress, task


def track(items: Iterable[T], description: str, total: int | None, *, disable: bool = False) -> Iterator[T]:
    """``items`` passed through unchanged, the bar advancing by one for each (for pure generators,
    whose callers at the edge decide whether a bar is shown)."""
    with progress_bar(description, total, disable=disable) as (bar, task):
        for item in items:
            yield item
            bar.update(task, advance=1)
