"""Exponential backoff with jitter for transient teacher failures (timeouts, 429, 5xx).

The delay schedule is a pure function; the sleep is injected so tests run in milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import RETRYABLE

T = TypeVar("T")
Sleep = Callable[[float], None]


class RetryPolicy(BaseModel):
    """How often and how patiently a transient failure is retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=5, ge=1, le=50)
    base_delay: float = Field(default=1.0, ge=0.0)
    max_delay: float = Field(default=60.0, ge=0.0)
    jitter: float = Field(default=0.5, ge=0.0, le=1.0, description="fraction of each delay drawn at random")


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    The delay doubles each attempt up to ``max_delay``; a ``jitter`` share of it is random so that
    many workers throttled at once do not all come back in the same instant.
    """
    ceiling = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return ceiling * (1.0 - policy.jitter) + ceiling * policy.jitter * rng.random()


class RetryExhausted(Exception):
    """Every attempt failed with a retryable error; ``last`` is the final one."""

    def __init__(self, last: BaseException, attempts: int) -> None:
        super().__init__(f"{type(last).__name__}: {last} (after {attempts} attempts)")
        self.last = last
        self.attempts = attempts


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Sleep = time.sleep,
    rng: random.Random | None = None,
) -> tuple[T, int]:
    """Call ``fn`` until it succeeds; returns ``(result, attempts)``.

    Only :data:`stillhouse.errors.RETRYABLE` errors are retried; any other error propagates at once.
    Raises :class:`RetryExhausted` when ``policy.max_attempts`` retryable failures happened in a row.
    """
    rng = rng or random.Random()
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return fn(), attempt
        except RETRYABLE as exc:
            if attempt == policy.max_attempts:
                raise RetryExhausted(exc, attempt) from exc
            sleep(backoff_delay(attempt, policy, rng))
    raise AssertionError("unreachable")  # pragma: no cover
