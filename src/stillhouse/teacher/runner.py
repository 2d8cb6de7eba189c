"""One record's labelling, and labelling as an executor stage.

:class:`Runner` asks the teacher for one :class:`Job` (its answer and, when asked for, the
distributions written beside it); :func:`label_stage` runs it here, or in a remote worker through a
view of the driver's cache, with every write left to the driver (:mod:`stillhouse.teacher.label`).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from pydantic import BaseModel, ConfigDict

from stillhouse.chat import ChatModel, Message, TokenDistribution
from stillhouse.executors.base import Ready, Stage
from stillhouse.records.schema import ConversationRecord, ImageLoader, to_messages
from stillhouse.tasks.base import Task
from stillhouse.teacher.cache import (
    CacheEntry,
    CacheMiss,
    CacheOnly,
    CacheView,
    ProbeCache,
    RequestCache,
    cached_score,
)
from stillhouse.teacher.consensus import RECORD_ERRORS, Outcome, SamplingPlan, ask_teacher
from stillhouse.teacher.distributions import fit_to_answer
from stillhouse.teacher.retry import RetryExhausted, RetryPolicy, Sleep, call_with_retry


def build_messages(
    record: ConversationRecord,
    shots: list[Message],
    task: Task | None,
    load_image: ImageLoader | None = None,
) -> list[Message]:
    """The teacher's conversation: system prompt (the record's, else the task's), shots, the prompt."""
    kwargs = {"load_image": load_image} if load_image is not None else {}
    turns = [m for m in to_messages(record, **kwargs) if m.role != "system"]
    system = record.system_text or (task.system_prompt if task else "")
    head = [Message(role="system", content=system)] if system else []
    return head + shots + turns


class Job(BaseModel):
    """One record to handle, with where it came from."""

    model_config = ConfigDict(extra="forbid")

    line: int
    record_id: str
    record: ConversationRecord
    shots: list[Message] = []


# A finished job: its outcome (None for a labelled record kept as it is) and the distributions
# written beside its answer.
Labelled = tuple[Job, Outcome | None, TokenDistribution | None]


@dataclasses.dataclass(frozen=True)
class Runner:
    """Labels one job; shared by the worker threads (the cache is thread-safe, the rest read-only).
    A remote worker gets a copy without the driver's cache and answers through a :class:`CacheView`."""

    teacher: ChatModel
    task: Task | None
    plan: SamplingPlan
    cache: RequestCache | CacheView | ProbeCache | None
    retry: RetryPolicy
    sleep: Sleep
    load_image: ImageLoader | None
    scored_top_k: int = 0  # > 0: score each answer rewritten into the task's student format

    def __call__(self, job: Job) -> Labelled:
        if job.record.is_labelled:
            return job, None, None
        messages = build_messages(job.record, job.shots, self.task, self.load_image)
        # A per-record RNG keeps the jitter independent of thread scheduling.
        rng = random.Random(job.record_id)
        outcome = ask_teacher(
            self.teacher,
            messages,
            task=self.task,
            plan=self.plan,
            cache=self.cache,
            retry=self.retry,
            sleep=self.sleep,
            rng=rng,
        )
        return job, outcome, self._distribution(job, outcome, rng)

    def _distribution(self, job: Job, outcome: Outcome, rng: random.Random) -> TokenDistribution | None:
        """The distributions written for the job's answer: the generation's, fitted to the answer,
        or (``scored_top_k``) the teacher's scores of the answer in the student's format."""
        if outcome.answer is None:
            return None
        if not self.scored_top_k:
            dist = outcome.distribution
            return fit_to_answer(dist, outcome.answer) if dist is not None else None
        from stillhouse.tasks.student import to_student_answer, to_student_shots

        assert self.task is not None  # _check_distributions
        answer = to_student_answer(self.task, outcome.answer)
        if answer is None:
            return None
        shots = to_student_shots(self.task, job.shots)
        messages = build_messages(job.record, shots, self.task, self.load_image)
        try:
            (dist, _), _tries = call_with_retry(
                lambda: cached_score(self.teacher, messages, answer, self.cache, self.scored_top_k),
                self.retry,
                sleep=self.sleep,
                rng=rng,
            )
        except (*RECORD_ERRORS, RetryExhausted):  # the answer stands; it trains on its SFT term only
            return None
        return dist


def label_stage(runner: Runner, threads: int) -> Stage[Job, Labelled]:
    """Labelling as an executor stage: ``runner`` here, or a copy of it in each remote worker
    answering what the driver's cache does not (and returning the entries for the driver to write)."""
    return Stage(
        name="label",
        local=runner,
        worker=dataclasses.replace(runner, cache=None),
        remote=_label_remotely,
        prepare=lambda job: _probe(runner, job),
        commit=lambda job, returned: _commit(runner.cache, job, returned),
        threads=threads,
    )


def _probe(runner: Runner, job: Job) -> Any:
    """In the driver: the job answered from the cache alone (:class:`Ready`), else what to send:
    the job with the cache entries its requests found (``None`` when the run has no cache)."""
    if job.record.is_labelled:
        return Ready((job, None, None))
    if not isinstance(runner.cache, RequestCache):
        return job, None
    probe = ProbeCache(runner.cache)
    try:
        return Ready(dataclasses.replace(runner, teacher=CacheOnly(runner.teacher.name), cache=probe)(job))
    except CacheMiss:
        return job, list(probe.found.values())


def _label_remotely(
    runner: Runner, sent: tuple[Job, list[CacheEntry] | None]
) -> tuple[Outcome | None, TokenDistribution | None, list[CacheEntry]]:
    """In a remote worker: the job labelled through a view of the driver's cache."""
    job, seed = sent
    view = CacheView(seed) if seed is not None else None
    _, outcome, dist = dataclasses.replace(runner, cache=view)(job)
    return outcome, dist, view.added if view is not None else []


def _commit(
    cache: Any, job: Job, returned: tuple[Outcome | None, TokenDistribution | None, list[CacheEntry]]
) -> Labelled:
    """In the driver: a remote worker's cache entries written, before its answer is."""
    outcome, dist, added = returned
    if isinstance(cache, RequestCache):
        cache.commit(added)
    return job, outcome, dist
