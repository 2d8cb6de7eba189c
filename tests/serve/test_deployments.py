"""Model pools: bounded concurrency, back-pressure, background loading and its failures."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, ModelNotReadyError, NotFoundError, ThrottledError
from stillhouse.models.fake import FakeModel
from stillhouse.serve.deployments import ModelPool, ModelRegistry, wait_active

MSG = [Message(role="user", content="hi")]
PARAMS = GenerationParams(max_tokens=4)


class _Gauge:
    """Counts generations running at once."""

    def __init__(self) -> None:
        self.now = self.peak = 0
        self.lock = threading.Lock()

    def responder(self, messages: list[Message], params: GenerationParams) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        time.sleep(0.02)
        with self.lock:
            self.now -= 1
        return "ok"


def test_concurrency_never_exceeds_workers() -> None:
    gauge = _Gauge()
    pool = ModelPool("m", "spec", lambda s: FakeModel(gauge.responder), workers=2, max_queue=100)
    pool.load()

    async def burst() -> list[str]:
        done = await asyncio.gather(*(pool.generate(MSG, PARAMS) for _ in range(20)))
        return [c.text for c in done]

    assert asyncio.run(burst()) == ["ok"] * 20
    assert gauge.peak == 2 and pool.pending == 0
    pool.close()


def test_each_worker_gets_its_own_replica() -> None:
    built: list[FakeModel] = []

    def loader(spec: str) -> FakeModel:
        built.append(FakeModel(["x"]))
        return built[-1]

    pool = ModelPool("m", "spec", loader, workers=3)
    pool.load()
    assert len(built) == 3 and pool.status == "Active"


def test_queue_overflow_is_throttled() -> None:
    release = threading.Event()
    pool = ModelPool(
        "m", "s", lambda s: FakeModel(lambda m, p: (release.wait(5), "ok")[1]), workers=1, max_queue=2
    )
    pool.load()

    async def flood() -> list[object]:
        tasks = [asyncio.create_task(pool.generate(MSG, PARAMS)) for _ in range(5)]
        await asyncio.sleep(0.1)
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(flood())
    assert sum(isinstance(r, ThrottledError) for r in results) == 2
    assert sum(getattr(r, "text", None) == "ok" for r in results) == 3
    pool.close()


def test_loading_states() -> None:
    gate = threading.Event()
    pool = ModelPool("m", "s", lambda s: (gate.wait(5), FakeModel(["ok"]))[1])
    pool.load_in_background()
    with pytest.raises(ModelNotReadyError):
        asyncio.run(pool.generate(MSG, PARAMS))

    async def waiting() -> str:
        task = asyncio.create_task(pool.generate(MSG, PARAMS, wait_load=True))
        await asyncio.sleep(0.05)
        gate.set()
        return (await task).text

    assert asyncio.run(waiting()) == "ok" and pool.status == "Active"


def test_failed_load_is_reported() -> None:
    def boom(spec: str) -> FakeModel:
        raise RuntimeError("weights truncated")

    done: list[str] = []
    pool = ModelPool("m", "s", boom)
    pool.load_in_background(lambda p: done.append(p.status)).join(5)
    assert done == ["Failed"] and pool.failure == "weights truncated"
    with pytest.raises(RuntimeError):
        wait_active(pool, 1)
    with pytest.raises(InvalidInputError, match="failed to load"):
        asyncio.run(pool.generate(MSG, PARAMS))


def test_registry_aliases_and_catalog() -> None:
    reg = ModelRegistry(lambda s: FakeModel([s]), workers=1, max_queue=4, catalog_names=frozenset({"cat"}))
    pool = reg.deploy("arn:dep/1", "/models/a", ("dep-name", "arn:model/a"))
    wait_active(pool, 5)
    assert reg.resolve("dep-name") is pool and reg.resolve("arn:model/a") is pool
    catalog = reg.resolve("cat")
    assert reg.resolve("cat") is catalog and reg.is_catalog("cat")
    reg.remove("arn:dep/1")
    with pytest.raises(NotFoundError, match="not deployed"):
        reg.resolve("dep-name")
    reg.close()


def test_backend_exceptions_become_model_errors() -> None:
    from stillhouse.errors import ModelError

    pool = ModelPool("m", "s", lambda s: FakeModel([RuntimeError("CUDA? no")]))
    pool.load()
    with pytest.raises(ModelError, match="CUDA"):
        asyncio.run(pool.generate(MSG, PARAMS))
    pool = ModelPool("m", "s", lambda s: FakeModel([InvalidInputError("prompt too long", field="messages")]))
    pool.load()
    with pytest.raises(InvalidInputError):
        asyncio.run(pool.generate(MSG, PARAMS))


def test_requests_queued_on_an_undeployed_model_get_a_clean_error() -> None:
    from stillhouse.errors import ServiceUnavailableError

    release = threading.Event()
    pool = ModelPool("m", "s", lambda s: FakeModel(lambda m, p: (release.wait(5), "ok")[1]), workers=1)
    pool.load()

    async def undeploy_midway() -> list[object]:
        tasks = [asyncio.create_task(pool.generate(MSG, PARAMS)) for _ in range(3)]
        await asyncio.sleep(0.05)
        pool.close()
        release.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(undeploy_midway())
    assert getattr(results[0], "text", None) == "ok"  # the running one finishes
    assert all(isinstance(r, ServiceUnavailableError) for r in results[1:])
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(pool.generate(MSG, PARAMS))


class _SmallContextModel(FakeModel):
    """A fake with a 64-token context that counts one token per word."""

    n_ctx = 64

    def __init__(self) -> None:
        super().__init__(["ok"])
        self.counted: list[str] = []

    def count_tokens(self, text: str) -> int:
        self.counted.append(text)
        return len(text.split())


def test_prompt_longer_than_the_context_is_refused_before_it_queues() -> None:
    model = _SmallContextModel()
    pool = ModelPool("m", "spec", lambda s: model, workers=1, max_queue=1)
    pool.load()
    long = [Message(role="user", content="word " * 100)]
    with pytest.raises(InvalidInputError, match="Input is too long for requested model") as err:
        asyncio.run(pool.generate(long, PARAMS))
    assert err.value.code == "ValidationException" and err.value.field == "messages"
    assert model.calls == [] and pool.pending == 0  # never reached a replica
    # Short prompts are not even tokenized (fewer bytes than the context); a fitting one answers.
    assert asyncio.run(pool.generate(MSG, PARAMS)).text == "ok" and model.counted == ["word " * 100]
    fits = [Message(role="user", content="w " * 40)]
    assert asyncio.run(pool.generate(fits, PARAMS)).text == "ok"
    pool.close()


def test_models_without_a_context_are_not_length_checked() -> None:
    pool = ModelPool("m", "spec", lambda s: FakeModel(["ok"]), workers=1)
    pool.load()
    assert asyncio.run(pool.generate([Message(role="user", content="w " * 100_000)], PARAMS)).text == "ok"
    pool.close()
