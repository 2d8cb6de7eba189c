"""Stages on Ray: long-lived actors (one model load each), items as actor calls, writes in the driver.

The driver keeps a window of ``2 x actors x threads`` calls in flight, answers in input order, and
commits each result as it arrives (``stage.commit``), so a driver killed part-way has written
every answer that came back. An actor that dies (``ray.kill``, a lost node, an OOM) costs only its
in-flight items: a fresh actor replaces it and they are sent again; nothing committed is redone.
An optional rate limit spaces the calls the driver sends (a remote HTTP teacher's quota).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from stillhouse.errors import MissingDependencyError, ServiceUnavailableError
from stillhouse.executors.base import ExecutorInfo, Ready, Stage
from stillhouse.executors.spec import ExecutorSpec

T = TypeVar("T")
R = TypeVar("R")

# An item whose actor dies this many times in a row is not sent again: it is what kills them.
MAX_RESENDS = 3


def require_ray() -> Any:
    """The ``ray`` module, or :class:`MissingDependencyError` naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError(
            f"the ray executor needs Ray: pip install 'stillhouse[ray]' ({exc})", field="executor"
        ) from exc
    return ray


class _Worker:
    """One actor's state: the stage's ``worker`` (its model loads on its first call) and its call."""

    def __init__(self, worker: Any, remote: Any) -> None:
        self.worker, self.remote = worker, remote

    def call(self, item: Any) -> Any:
        return self.remote(self.worker, item)

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """Runs stages on the cluster ``spec`` names; starts (and on close stops) a local one when
    ``spec.address`` is None and this process is not connected to Ray yet."""

    def __init__(self, spec: ExecutorSpec) -> None:
        self.ray = require_ray()
        self.spec = spec
        self.info = ExecutorInfo(executor=spec.description)
        self._started = False
        self._actors: list[Any] = []
        if not self.ray.is_initialized():
            self._connect()

    def _connect(self) -> None:
        if self.spec.address:
            self.ray.init(address=self.spec.address, log_to_driver=False)
            return
        self.ray.init(
            num_cpus=self.spec.cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False
        )
        self._started = True

    def workers_for(self, stage: Stage[Any, Any]) -> int:
        """``spec.actors``, else as many as the cluster's CPUs hold at ``stage.cpus`` each."""
        if self.spec.actors:
            return self.spec.actors
        cpus = float(self.ray.cluster_resources().get("CPU", 1))
        return max(1, int(cpus // max(stage.cpus, 1e-9)))

    def live_actors(self) -> list[Any]:
        """The actors of the stage running now (tests kill one to see its items resent)."""
        return list(self._actors)

    def map(self, stage: Stage[T, R], items: Iterable[T]) -> Iterator[R]:
        if stage.remote is None:
            raise ServiceUnavailableError(f"stage {stage.name!r} cannot run on Ray (no remote call)")
        count = self.workers_for(stage)
        self.info.workers[stage.name] = count
        return _Run(self, stage, count).results(items)

    def _spawn(self, stage: Stage[Any, Any]) -> Any:
        actor_class = self.ray.remote(_Worker)
        options = {
            "num_cpus": stage.cpus,
            "num_gpus": self.spec.gpus or stage.gpus,
            "max_concurrency": max(1, stage.threads),
            "max_restarts": 0,
        }
        return actor_class.options(**options).remote(stage.worker, stage.remote)

    def close_actors(self) -> None:
        """End the stage's actors (their models with them)."""
        for actor in self._actors:
            self.ray.kill(actor)
        self._actors.clear()

    def close(self) -> None:
        self.close_actors()
        if self._started:
            self.ray.shutdown()
            self._started = False


class _Run:
    """One stage's pass over its items: the window of calls in flight, results back in order."""

    def __init__(self, executor: RayExecutor, stage: Stage[Any, Any], count: int) -> None:
        self.ex, self.stage, self.ray = executor, stage, executor.ray
        self.ex._actors = [executor._spawn(stage) for _ in range(count)]
        self.window = 2 * count * max(1, stage.threads)
        # ref -> (index, item, sent, slot, resends, the actor it went to)
        self.pending: dict[Any, tuple[int, Any, Any, int, int, Any]] = {}
        self.done: dict[int, Any] = {}
        self.load = [0] * count
        self._last_send = 0.0

    def results(self, items: Iterable[Any]) -> Iterator[Any]:
        source = enumerate(items)
        exhausted, next_out = False, 0
        try:
            while True:
                exhausted = exhausted or self._fill(source)
                while next_out in self.done:
                    yield self.done.pop(next_out)
                    next_out += 1
                if exhausted and not self.pending:
                    return
                self._collect()
        finally:
            self.ex.close_actors()

    def _fill(self, source: Iterator[tuple[int, Any]]) -> bool:
        """Send items until the window is full; True once ``source`` is exhausted. Answers settled
        here count too, so a long run of cached items is yielded as it goes, not all at the end."""
        while len(self.pending) + len(self.done) < self.window:
            nxt = next(source, None)
            if nxt is None:
                return True
            index, item = nxt
            prepared = self.stage.prepare(item)
            if isinstance(prepared, Ready):
                self.done[index] = prepared.result
            else:
                self._send(index, item, prepared, 0)
        return False

    def _send(self, index: int, item: Any, sent: Any, resends: int) -> None:
        rate = self.ex.spec.rate
        if rate:
            wait = self._last_send + 1.0 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_send = time.monotonic()
        slot = min(range(len(self.load)), key=self.load.__getitem__)
        self.load[slot] += 1
        actor = self.ex._actors[slot]
        self.pending[actor.call.remote(sent)] = (index, item, sent, slot, resends, actor)

    def _collect(self) -> None:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1)
        for ref in ready:
            index, item, sent, slot, resends, actor = self.pending.pop(ref)
            self.load[slot] -= 1
            try:
                returned = self.ray.get(ref)
            except self.ray.exceptions.RayActorError as exc:
                if self.ex._actors[slot] is actor:  # not yet replaced by its other in-flight items
                    self.ray.kill(actor)
                    self.ex._actors[slot] = self.ex._spawn(self.stage)
                if resends + 1 >= MAX_RESENDS:
                    raise ServiceUnavailableError(
                        f"stage {self.stage.name!r}: item {index} lost its worker {resends + 1} times ({exc})"
                    ) from exc
                self._send(index, item, sent, resends + 1)
                continue
            self.done[index] = self.stage.commit(item, returned)
