"""Backoff schedule and the retry loop (with an injected sleep, so no test waits)."""

from __future__ import annotations

import random

import pytest

from stillhouse.errors import InvalidInputError, ModelTimeoutError, ServiceUnavailableError, ThrottledError
from stillhouse.teacher.retry import RetryExhausted, RetryPolicy, backoff_delay, call_with_retry


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.0)
    rng = random.Random(0)
    assert [backoff_delay(a, policy, rng) for a in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_within_its_share() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=60.0, jitter=0.5)
    rng = random.Random(1)
    delays = [backoff_delay(2, policy, rng) for _ in range(200)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 100  # really random, so throttled workers spread out


def test_retries_transient_errors_then_succeeds() -> None:
    script = [ThrottledError("429"), ServiceUnavailableError("503"), ModelTimeoutError("slow"), "ok"]
    sleeps: list[float] = []

    def fn() -> str:
        item = script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    result, attempts = call_with_retry(
        fn, RetryPolicy(max_attempts=5), sleep=sleeps.append, rng=random.Random(0)
    )
    assert (result, attempts) == ("ok", 4)
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]


def test_gives_up_after_max_attempts() -> None:
    sleeps: list[float] = []

    def fn() -> str:
        raise ThrottledError("429")

    with pytest.raises(RetryExhausted) as info:
        call_with_retry(fn, RetryPolicy(max_attempts=3), sleep=sleeps.append)
    assert info.value.attempts == 3 and isinstance(info.value.last, ThrottledError)
    assert len(sleeps) == 2


def test_non_retryable_errors_propagate_at_once() -> None:
    sleeps: list[float] = []

    def fn() -> str:
        raise InvalidInputError("bad")

    with pytest.raises(InvalidInputError):
        call_with_retry(fn, RetryPolicy(), sleep=sleeps.append)
    assert sleeps == []
