"""Asking the teacher for one record: N samples, validation, retries, and a consensus answer.

With a task, every answer is parsed with ``task.parse``; an invalid answer is asked again with a
different seed and a slightly higher temperature; with ``samples > 1`` the valid samples are combined
by ``task.combine`` (self-consistency) and the result rendered by ``task.render``. The sequence of
requests is deterministic, so a rerun replays it entirely from the request cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel, Completion, GenerationParams, Message, TokenDistribution
from stillhouse.errors import InvalidInputError, ModelError
from stillhouse.tasks.base import Task
from stillhouse.teacher.cache import RequestCache, cached_generate, cached_generate_with_distribution
from stillhouse.teacher.retry import RetryExhausted, RetryPolicy, Sleep, call_with_retry


class SamplingPlan(BaseModel):
    """How many answers to draw per record and how to vary them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(default=1, ge=1, le=32)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0, description="used when samples > 1")
    invalid_retries: int = Field(default=2, ge=0, le=10, description="extra tries for an invalid answer")
    seed: int = 0
    repair: bool = Field(default=True, description="accept answers the task can fix (renormalised weights)")
    json_schema: dict[str, Any] | None = None
    top_logprobs: int = Field(
        default=0, ge=0, le=20, description="also ask each answer's top-k distributions"
    )


def sample_params(plan: SamplingPlan, sample: int, attempt: int) -> GenerationParams:
    """Decoding parameters of one request: sample ``sample`` (0-based), try ``attempt`` (0-based).

    One sample decodes greedily; several need temperature > 0 and distinct seeds to differ. A retry
    of an invalid answer changes the seed and warms the temperature a little, since a greedy decode
    with the same prompt would repeat the same mistake.
    """
    temperature = plan.temperature if plan.samples > 1 else 0.0
    if attempt:
        temperature = min(1.0, max(temperature, 0.3) + 0.1 * (attempt - 1))
    return GenerationParams(
        max_tokens=plan.max_tokens,
        temperature=temperature,
        json_schema=plan.json_schema,
        seed=plan.seed + 1000 * attempt + sample,
    )


class Outcome(BaseModel):
    """What asking the teacher for one record produced, with its accounting."""

    model_config = ConfigDict(extra="forbid")

    answer: str | None = None
    value: dict[str, Any] | None = None
    reason: str | None = None
    attempts: int = 0
    teacher_calls: int = 0
    cached_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    # The top-k distributions of the last answer asked (the answer itself when samples == 1).
    distribution: TokenDistribution | None = None

    def count(self, completion: Completion, from_cache: bool) -> None:
        """Account for one answered request (tokens count only when the teacher was really paid)."""
        if from_cache:
            self.cached_calls += 1
            return
        self.teacher_calls += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens


# Errors that concern one record (the backend failed on it, its prompt is too long): reported per
# record. Anything else (a missing dependency, a corrupt model, a job being stopped) stops the run.
RECORD_ERRORS = (ModelError, InvalidInputError)

Checker = Callable[[str], tuple[dict[str, Any] | None, str | None]]


def make_checker(task: Task | None, *, repair: bool = False) -> Checker:
    """``text -> (value, error)``: the task's parser, or (without a task) any non-empty text.

    With ``repair``, an answer the task can fix (e.g. weights renormalised to sum to 1) is accepted
    (see :meth:`Task.accept`).
    """

    def check(text: str) -> tuple[dict[str, Any] | None, str | None]:
        if task is None:
            return ({"text": text}, None) if text.strip() else (None, "empty answer")
        parsed = task.accept(text, repair=repair)
        if parsed.ok:
            return parsed.value, None
        return None, "invalid answer: " + "; ".join(parsed.errors or ["unparseable"])

    return check


def _one_sample(
    ask: Callable[[GenerationParams], tuple[Completion, bool]],
    plan: SamplingPlan,
    sample: int,
    check: Checker,
    out: Outcome,
) -> dict[str, Any] | None:
    """Draw one valid sample (retrying invalid answers); records the last reason on failure."""
    for attempt in range(plan.invalid_retries + 1):
        try:
            completion, from_cache = ask(sample_params(plan, sample, attempt))
        except RetryExhausted as exc:
            out.attempts += exc.attempts
            out.reason = f"teacher kept failing: {exc}"
            return None
        except RECORD_ERRORS as exc:
            out.attempts += 1
            out.reason = f"teacher error: {type(exc).__name__}: {exc}"
            return None
        out.count(completion, from_cache)
        value, error = check(completion.text)
        if value is not None:
            return value
        out.reason = error
    return None


def ask_teacher(
    teacher: ChatModel,
    messages: list[Message],
    *,
    task: Task | None,
    plan: SamplingPlan,
    cache: RequestCache | None,
    retry: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
) -> Outcome:
    """Label one conversation: ``plan.samples`` valid answers if possible, combined into one."""
    out = Outcome()
    check = make_checker(task, repair=plan.repair)

    def ask(params: GenerationParams) -> tuple[Completion, bool]:
        if plan.top_logprobs:
            (completion, out.distribution, from_cache), tries = call_with_retry(
                lambda: cached_generate_with_distribution(
                    teacher, messages, params, cache, plan.top_logprobs
                ),
                retry,
                sleep=sleep,
                rng=rng,
            )
        else:
            (completion, from_cache), tries = call_with_retry(
                lambda: cached_generate(teacher, messages, params, cache), retry, sleep=sleep, rng=rng
            )
        out.attempts += tries
        return completion, from_cache

    values = [v for s in range(plan.samples) if (v := _one_sample(ask, plan, s, check, out)) is not None]
    if not values:
        return out
    if task is None:
        out.answer = values[0]["text"].strip()
        return out
    out.value = task.combine(values) if len(values) > 1 else values[0]
    out.answer = task.render(out.value)
    out.reason = None
    return out
