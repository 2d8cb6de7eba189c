"""One progress display for every long loop: counts, rate, ETA, on stderr so ``--json`` stays clean.

On a terminal it is a rich progress bar. Without one (a pipe, ``nohup``, CI) a bar would print
nothing until the end, so the same calls print a plain line every ``STILLHOUSE_PROGRESS_INTERVAL``
seconds (default 10) and one at the end. :func:`note` says what a silent stretch of start-up is doing,
and :class:`StageTimer` times the stages of a multi-stage run (a recipe).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
INTERVAL_ENV = "STILLHOUSE_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0


def interval_seconds() -> float:
    """Seconds between progress lines without a terminal (``STILLHOUSE_PROGRESS_INTERVAL``)."""
    raw = os.environ.get(INTERVAL_ENV)
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL
    except ValueError:
        value = DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


@contextmanager
def progress_bar(
    description: str, total: int | None, *, disable: bool = False, interval: float | None = None
) -> Iterator[tuple[Any, Any]]:
    """A progress display; ``progress.update(task, advance=1, info="loss 1.23")`` moves it.

    ``disable`` shows nothing. On a terminal: a rich bar; otherwise a line every ``interval`` seconds.
    """
    console = Console(stderr=True)
    if disable or console.is_terminal:
        with _rich_bar(console, disable) as bar:
            yield bar, bar.add_task(description, total=total, info="")
        return
    lines = LineProgress(description, total, interval or interval_seconds())
    with lines.ticking():
        yield lines, 0


def _rich_bar(console: Console, disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None, *, disable: bool = False) -> Iterator[T]:
    """``items`` passed through unchanged, the display advancing by one for each (for pure generators,
    whose callers at the edge decide whether progress is shown)."""
    with progress_bar(description, total, disable=disable) as (bar, task):
        for item in items:
            yield item
            bar.update(task, advance=1)


def note(message: str, *, enabled: bool = True) -> None:
    """One status line on stderr for work that has no count yet (loading, tokenizing)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


class StageTimer:
    """Wall-clock seconds per named stage: a line as each starts and ends, and ``seconds`` for a
    summary file (the stages a rerun skipped are absent, which is how a caller tells them apart)."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.seconds: dict[str, float] = {}
        self._log = log

    def run(self, name: str, fn: Callable[[], T]) -> T:
        self._log(f"== {name}")
        started = time.monotonic()
        value = fn()
        self.seconds[name] = round(time.monotonic() - started, 1)
        self._log(f"   {name}: {self.seconds[name]:.1f} s")
        return value


@dataclass
class LineProgress:
    """The rich ``Progress`` calls the loops make (``update``, ``reset``), printed as plain lines."""

    description: str
    total: int | None
    interval: float
    stream: TextIO | None = None
    completed: float = 0
    info: str = ""
    baseline: float = 0  # the count a reset started from (a resumed run's steps are not this run's rate)
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(
        self,
        task: Any = None,
        *,
        advance: float | None = None,
        completed: float | None = None,
        total: int | None = None,
        info: str | None = None,
        **_: Any,
    ) -> None:
        with self._lock:
            if total is not None:
                self.total = total
            if completed is not None:
                self.completed = completed
            if advance is not None:
                self.completed += advance
            if info is not None:
                self.info = info

    def reset(self, task: Any = None, *, total: int | None = None, completed: float = 0, **_: Any) -> None:
        with self._lock:
            self.total = total if total is not None else self.total
            self.completed = self.baseline = completed
            self.started = time.monotonic()

    @contextmanager
    def ticking(self) -> Iterator[None]:
        """Print a line every ``interval`` seconds from a background thread, and a last one at the end."""
        stop = threading.Event()

        def tick() -> None:
            while not stop.wait(self.interval):
                self.emit()

        thread = threading.Thread(target=tick, name=f"progress: {self.description}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.emit()

    def emit(self) -> None:
        print(self.line(), file=self.stream or sys.stderr, flush=True)

    def line(self) -> str:
        """``labelling: 12/40 (30%) · 1.2/s · eta 23s · elapsed 10s · <info>``."""
        with self._lock:
            done, total, info, baseline = self.completed, self.total, self.info, self.baseline
            elapsed = time.monotonic() - self.started
        rate = (done - baseline) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.description}: {done:g}" + (f"/{total} ({done / total:.0%})" if total else "")]
        parts.append(f"{rate:.2f}/s" if rate < 10 else f"{rate:,.0f}/s")
        if total and rate > 0 and done < total:
            parts.append(f"eta {_duration((total - done) / rate)}")
        parts.append(f"elapsed {_duration(elapsed)}")
        if info:
            parts.append(info)
        return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
