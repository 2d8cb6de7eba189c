"""The lazily loaded model: named before it loads, loaded on its first request, its load failure typed."""

from __future__ import annotations

import pickle

import pytest

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.models.fake import FakeModel
from stillhouse.models.lazy import LazyModel, ModelUnavailable, lazy_model, load_failure

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
