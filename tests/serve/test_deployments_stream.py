"""Model pools stream: deltas through the pool's worker, and a consumer that leaves frees its replica."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.errors import ModelError, ServiceUnavailableError, ThrottledError
from stillhouse.models.fake import FakeModel
from stillhouse.serve.deployments import ModelPool

MSG = [Message(role="user", content="hi")]
PARAMS = GenerationParams(max_tokens=4)


class Ticker:
    """Streams ``n`` ticks, one every ``every`` seconds; fails after ``fail_after`` ticks if set."""

    name = "ticker"
    supports_json_schema = False

    def __init__(self, n: int = 1000, every: float = 0.01, fail_after: int | None = None) -> None:
        self.n, self.every, self.fail_after = n, every, fail_after
        self.started = self.closed = 0
        self.produced = 0

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return Completion(text="tick " * self.n, model=self.name)

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str | Completion]:
        self.started += 1
        try:
            for i in range(self.n):
                if self.fail_after is not None and i == self.fail_after:
                    raise RuntimeError("the GPU caught fire")
                time.sleep(self.every)
                self.produced += 1
                yield "tick "
            yield self.generate(messages, params)
        finally:
            self.closed += 1


async def _take(pool: ModelPool, count: int) -> list[str | Completion]:
    taken: list[str | Completion] = []
    stream = pool.stream(MSG, PARAMS)
    async for item in stream:
        taken.append(item)
        if len(taken) == count:
            break
    await stream.aclose()  # what the server does when the client hangs up
    return taken


def test_a_stream_yields_the_fake_answer_word_by_word() -> None:
    pool = ModelPool("m", "spec", lambda s: FakeModel(["one two three"]), workers=1)
    pool.load()

    async def run() -> list[str | Completion]:
        return [item async for item in pool.stream(MSG, PARAMS)]

    items = asyncio.run(run())
    assert items[:-1] == ["one ", "two ", "three"] and isinstance(items[-1], Completion)
    assert pool.pending == 0
    pool.close()


def test_a_consumer_that_leaves_frees_the_only_replica_for_the_next_request() -> None:
    ticker = Ticker()
    pool = ModelPool("m", "spec", lambda s: ticker, workers=1)
    pool.load()

    async def run() -> tuple[list[str | Completion], Completion]:
        first = await _take(pool, 3)
        second = await asyncio.wait_for(pool.generate(MSG, PARAMS), timeout=5)
        return first, second

    first, second = asyncio.run(run())
    assert first == ["tick "] * 3 and second.text.startswith("tick")
    deadline = time.monotonic() + 5
    while ticker.closed < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ticker.closed == 1 and ticker.produced < 50  # stopped, not run to its 1000 ticks
    assert pool.pending == 0
    pool.close()


def test_a_model_failing_mid_stream_raises_after_its_deltas() -> None:
    pool = ModelPool("m", "spec", lambda s: Ticker(n=10, every=0, fail_after=2), workers=1)
    pool.load()
    seen: list[str | Completion] = []

    async def run() -> None:
        async for item in pool.stream(MSG, PARAMS):
            seen.append(item)

    with pytest.raises(ModelError, match="caught fire"):
        asyncio.run(run())
    assert seen == ["tick ", "tick "] and pool.pending == 0
    pool.close()


def test_a_stream_is_admitted_like_a_generation() -> None:
    pool = ModelPool("m", "spec", lambda s: Ticker(), workers=1, max_queue=0)
    pool.load()

    async def run() -> None:
        holder = pool.stream(MSG, PARAMS)
        await holder.__anext__()  # holds the only place
        with pytest.raises(ThrottledError):
            await pool.stream(MSG, PARAMS).__anext__()
        await holder.aclose()

    asyncio.run(run())
    assert pool.pending == 0
    pool.close()


def test_undeploying_ends_a_queued_stream_instead_of_leaving_it_waiting() -> None:
    gate = threading.Event()
    pool = ModelPool("m", "spec", lambda s: FakeModel(lambda m, p: gate.wait(5) and "done"), workers=1)
    pool.load()

    async def run() -> None:
        busy = asyncio.ensure_future(pool.generate(MSG, PARAMS))
        await asyncio.sleep(0.05)
        queued = pool.stream(MSG, PARAMS)
        waiting = asyncio.ensure_future(queued.__anext__())
        await asyncio.sleep(0.05)
        pool.close()
        with pytest.raises(ServiceUnavailableError):
            await asyncio.wait_for(waiting, timeout=5)
        gate.set()
        await busy

    asyncio.run(run())
