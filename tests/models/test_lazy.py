"""The lazily loaded model: named before it loads, loaded on its first request, its load failure typed."""

from __future__ import annotations

import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.fake import FakeModel
from stillhouse.models.lazy import LazyModel, Loaded, ModelUnavailable, lazy_model, load_failure

ASK = [Message(role="user", content="hi")]


def test_a_spec_is_named_as_written_and_pickles_unloaded(tmp_path):
    model = lazy_model(f"  llamacpp:{tmp_path / 'missing.gguf'} ")
    assert model.name == f"llamacpp:{tmp_path / 'missing.gguf'}"
    again = pickle.loads(pickle.dumps(model))  # what a remote worker receives
    with pytest.raises(ModelUnavailable) as err:
        again.generate(ASK, GenerationParams(max_tokens=1))
    assert isinstance(load_failure(err.value), NotFoundError)


def test_a_model_without_distributions_fails_the_run_once():
    model = LazyModel("fake", lambda: FakeModel(["ok"]))
    assert model.generate(ASK, GenerationParams(max_tokens=1)).text == "ok"
    with pytest.raises(ModelUnavailable) as err:
        model.generate_with_distribution(ASK, GenerationParams(max_tokens=1), 3)
    cause = load_failure(err.value)
    assert isinstance(cause, InvalidInputError) and cause.field == "top_logprobs"


def test_load_failure_unwraps_a_remote_copy():
    inner = ModelUnavailable("m", NotFoundError("no such model", field="model"))
    outer = ModelUnavailable.__new__(ModelUnavailable)
    outer.cause = inner  # Ray's copy of an exception names the original as its cause
    assert load_failure(outer) is inner.cause


class SlowCountingLoad:
    """A loader that takes long enough for every thread to arrive while it runs, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> FakeModel:
        self.calls += 1
        time.sleep(0.05)
        return FakeModel(["ok"])


def _together(n: int, fn) -> list:
    """``fn()`` on ``n`` threads released at once (an executor's threads on their first record)."""
    barrier = threading.Barrier(n)

    def run(_: int):
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_threads_asking_together_load_the_model_once():
    load = SlowCountingLoad()
    model = LazyModel("fake", load)
    answers = _together(8, lambda: model.generate(ASK, GenerationParams(max_tokens=1)).text)
    assert answers == ["ok"] * 8 and load.calls == 1


def test_a_failed_load_is_tried_again():
    outcomes = iter([NotFoundError("not yet", field="model"), FakeModel(["ok"])])

    def load() -> FakeModel:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    model = LazyModel("fake", load)
    with pytest.raises(ModelUnavailable):
        model.generate(ASK, GenerationParams(max_tokens=1))
    assert model.generate(ASK, GenerationParams(max_tokens=1)).text == "ok"


def test_a_loaded_model_pickles_unloaded():
    model = LazyModel("fake", SlowCountingLoad())
    model.generate(ASK, GenerationParams(max_tokens=1))
    assert pickle.loads(pickle.dumps(model))._model._value is None  # a remote worker loads its own
    once = Loaded(SlowCountingLoad())
    again = pickle.loads(pickle.dumps(once))
    assert again.get() is again.get() and once._value is None
