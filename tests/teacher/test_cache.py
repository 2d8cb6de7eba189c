"""The request cache: keys that change with every decoding parameter, persistence, thread safety."""

from __future__ import annotations

import threading

import pytest

from stillhouse.chat import Completion, GenerationParams, Image, Message
from stillhouse.models.fake import FakeModel
from stillhouse.teacher.cache import RequestCache, cache_key, cached_generate

MESSAGES = [Message(role="system", content="route"), Message(role="user", content="guitar solo")]
BASE = GenerationParams(max_tokens=64, temperature=0.0, seed=1)


def test_same_request_same_key() -> None:
    assert cache_key("t", MESSAGES, BASE) == cache_key(
        "t", list(MESSAGES), GenerationParams(max_tokens=64, seed=1)
    )


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 2},
        {"temperature": 0.5},
        {"max_tokens": 65},
        {"top_p": 0.9},
        {"json_schema": {"type": "object"}},
        {"stop": ("\n",)},
    ],
)
def test_key_changes_with_every_parameter(change: dict) -> None:
    assert cache_key("t", MESSAGES, BASE) != cache_key("t", MESSAGES, BASE.model_copy(update=change))


def test_key_changes_with_teacher_messages_and_images() -> None:
    key = cache_key("t", MESSAGES, BASE)
    assert key != cache_key("other", MESSAGES, BASE)
    assert key != cache_key("t", [*MESSAGES[:1], Message(role="user", content="guitar solo!")], BASE)
    with_image = [
        *MESSAGES[:1],
        Message(role="user", content="guitar solo", images=(Image(format="png", data=b"x"),)),
    ]
    other_image = [
        *MESSAGES[:1],
        Message(role="user", content="guitar solo", images=(Image(format="png", data=b"y"),)),
    ]
    assert len({key, cache_key("t", with_image, BASE), cache_key("t", other_image, BASE)}) == 3


def test_entries_persist_across_instances(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    with RequestCache(path) as cache:
        cache.put("k", "t", Completion(text="hello", model="t", input_tokens=3, output_tokens=1))
    with RequestCache(path) as cache:
        hit = cache.get("k")
        assert hit is not None and hit.text == "hello" and hit.output_tokens == 1
        assert cache.get("missing") is None
        assert len(cache) == 1


def test_cached_generate_calls_the_model_once(tmp_path) -> None:
    model = FakeModel(["answer"])
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first = cached_generate(model, MESSAGES, BASE, cache)
        second = cached_generate(model, MESSAGES, BASE, cache)
        third = cached_generate(model, MESSAGES, BASE.model_copy(update={"seed": 9}), cache)
    assert [first[1], second[1], third[1]] == [False, True, False]
    assert first[0].text == second[0].text == "answer"
    assert len(model.calls) == 2


def test_errors_are_not_cached(tmp_path) -> None:
    from stillhouse.errors import ModelTimeoutError

    model = FakeModel([ModelTimeoutError("slow"), "late answer"])
    with RequestCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(ModelTimeoutError):
            cached_generate(model, MESSAGES, BASE, cache)
        assert cached_generate(model, MESSAGES, BASE, cache)[0].text == "late answer"


def test_many_threads_share_one_cache(tmp_path) -> None:
    cache = RequestCache(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                cache.put(f"k{i}", "t", Completion(text=f"{n}-{i}", model="t"))
                assert cache.get(f"k{i}") is not None
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) == 20  # first writer wins; no duplicates, no lock errors
    cache.close()


_WRITER = """
import sys
from stillhouse.chat import Completion
from stillhouse.teacher.cache import RequestCache
path, worker = sys.argv[1], sys.argv[2]
with RequestCache(path) as cache:
    for i in range(40):
        cache.put(f"shared-{i}", "t", Completion(text=f"w{worker}", model="t"))
        cache.put(f"own-{worker}-{i}", "t", Completion(text=f"w{worker}", model="t"))
"""


@pytest.mark.integration
def test_several_processes_share_one_cache(tmp_path) -> None:
    import subprocess
    import sys

    path = str(tmp_path / "c.sqlite")
    RequestCache(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, path, str(w)]) for w in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    with RequestCache(path) as cache:
        assert len(cache) == 40 + 3 * 40
