"""The executor seam: a :class:`Stage` says what one item's call is, an :class:`Executor` says where
it runs. :class:`LocalExecutor` is today's behaviour (this process, ``stage.threads`` threads);
:class:`~stillhouse.executors.ray_pool.RayExecutor` runs the calls in long-lived Ray actors.

Either way the results come back in input order and every write happens in the driver: a remote
worker returns what it would have written (e.g. new request-cache entries) and ``stage.commit``
writes it here, so there is one writer and the cache and resume guarantees are the local ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from stillhouse.executors.spec import ExecutorSpec

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Ready(Generic[R]):
    """``stage.prepare``'s answer for an item the driver settles itself (e.g. all from the cache)."""

    result: R


def _send_as_is(item: Any) -> Any:
    return item


def _as_returned(item: Any, result: Any) -> Any:
    return result


@dataclass(frozen=True)
class Stage(Generic[T, R]):
    """One data-parallel stage.

    ``local`` is the call in this process (the local executor runs it on ``threads`` threads).
    A remote executor ships ``worker`` (picklable; a model in it loads on its first call, so once
    per actor) to each of its actors, sends each item through ``prepare`` (in the driver: the item
    to send, or :class:`Ready` to answer it here), runs ``remote(worker, sent)`` in an actor, and
    turns what comes back into the stage's result with ``commit(item, returned)`` in the driver,
    which is where that result's writes happen. ``cpus``/``gpus`` are each actor's resources.
    """

    name: str
    local: Callable[[T], R]
    worker: Any = None
    remote: Callable[[Any, Any], Any] | None = None
    prepare: Callable[[T], Any] = _send_as_is
    commit: Callable[[T, Any], R] = _as_returned
    threads: int = 1
    cpus: float = 1.0
    gpus: float = 0.0


RAN_ON = "ran_on"  # the key of a batch or evaluation job's stored ExecutorInfo


class ExecutorInfo(BaseModel):
    """Where a run's stages ran and how many workers each used (a job's stored details show it)."""

    model_config = ConfigDict(extra="forbid")

    executor: str = "local"
    workers: dict[str, int] = {}


class Executor(Protocol):
    """Runs a stage's calls somewhere, yielding the results in input order."""

    info: ExecutorInfo

    def map(self, stage: Stage[T, R], items: Iterable[T]) -> Iterator[R]: ...

    def close(self) -> None: ...


def ordered_map(fn: Callable[[T], R], items: Sequence[T] | Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, results in input order.

    At most ``2 * workers`` calls are in flight, so memory stays flat and a crash loses at most
    that many finished answers from the output (a cached call keeps them in the request cache).
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="teacher")
    window: list[Future[R]] = []
    try:
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) >= 2 * workers:
                yield window.pop(0).result()
        while window:
            yield window.pop(0).result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class LocalExecutor:
    """Today's behaviour: each stage's ``local`` call in this process, on its ``threads`` threads."""

    def __init__(self) -> None:
        self.info = ExecutorInfo()

    def map(self, stage: Stage[T, R], items: Iterable[T]) -> Iterator[R]:
        self.info.workers[stage.name] = stage.threads
        return ordered_map(stage.local, items, stage.threads)

    def close(self) -> None:
        return None


@contextmanager
def open_executor(spec: ExecutorSpec | None = None) -> Iterator[Executor]:
    """The executor ``spec`` names (None: local), closed on exit (a cluster it started is stopped)."""
    if spec is None or spec.kind == "local":
        yield LocalExecutor()
        return
    from stillhouse.executors.ray_pool import RayExecutor

    executor = RayExecutor(spec)
    try:
        yield executor
    finally:
        executor.close()
