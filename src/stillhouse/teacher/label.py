"""Teacher labelling: prompt-only records in, labelled training pairs out, crash-safe and resumable.

- Labelled input records are golden examples: written to the output as training pairs and, with the
  teacher's own golden examples, retrieved by similarity as few-shot turns for every prompt.
- The teacher is the :class:`FewShotTeacher` of :func:`~stillhouse.teacher.build.build_teacher`; its
  shots for every pending prompt are retrieved in one batch, and its request cache is used.
- Every request goes through the persistent :class:`RequestCache`, so a rerun pays for nothing twice.
- The output JSONL is append-only with flush+fsync per record. A record's id is the hash of its prompt,
  so on restart the records already in the output are skipped: a SIGKILL loses no finished answer and
  a restart never writes a duplicate.
- Records that stay failed (transient errors past the retry budget, invalid answers) go to the failure
  report ``{line, record_id, reason, attempts}``; nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.chat import ChatModel, DistributionChatModel, ScoringChatModel, TokenDistribution
from stillhouse.errors import InvalidInputError, JobStoppedError
from stillhouse.executors.base import Executor, LocalExecutor, ordered_map
from stillhouse.models.lazy import ModelUnavailable, load_failure
from stillhouse.progress import progress_bar
from stillhouse.records.schema import ConversationRecord, ImageLoader, Turn
from stillhouse.tasks.base import Task
from stillhouse.teacher.consensus import Outcome, SamplingPlan
from stillhouse.teacher.distributions import distributions_path
from stillhouse.teacher.fewshot import FewShotTeacher
from stillhouse.teacher.golden import query_text
from stillhouse.teacher.records_io import Failure, JsonlAppender, assign_ids, done_ids
from stillhouse.teacher.retry import RetryPolicy, Sleep
from stillhouse.teacher.runner import Job, Labelled, Runner, label_stage

__all__ = ["LabelConfig", "LabelSummary", "label_records", "ordered_map"]

SUMMARY_KEYS = (
    "labelled",
    "from_cache",
    "teacher_calls",
    "failed",
    "input_tokens",
    "output_tokens",
    "seconds",
)


class LabelConfig(BaseModel):
    """How a labelling run asks the teacher and reports.

    ``samples`` > 1 draws that many answers per prompt and combines them (self-consistency; needs a
    task). ``repair`` accepts answers the task can fix (e.g. renormalised weights). ``failures_path``
    defaults to ``<out>.failures.jsonl``. ``retry`` is the backoff on transient errors.
    ``top_logprobs`` > 0 also records the teacher's top-k log-probabilities at each answer token
    (kept in the request cache, written to ``<out>.distributions.jsonl``) for logit distillation;
    off by default, so plain labelling asks and caches exactly what it always did.
    ``distributions_for`` says whose answer they are: ``answer`` the teacher's text as written to the
    output (recorded while generating it), ``student`` that answer rewritten into the task's student
    format, which is what training in that format trains on: the teacher scores the rewritten answer
    (teacher-forced, one pass; cached under the scored text) after its own conversation, its shots
    rewritten the same way so that it has seen the format it is scored in.
    """

    model_config = ConfigDict(extra="forbid")

    max_tokens: int = Field(default=512, ge=1)
    samples: int = Field(default=1, ge=1, le=32)
    workers: int = Field(default=1, ge=1)
    repair: bool = True
    seed: int = 0
    progress: bool = True
    failures_path: Path | None = None
    retry: RetryPolicy = RetryPolicy()
    top_logprobs: int = Field(default=0, ge=0, le=20)
    distributions_for: Literal["answer", "student"] = "answer"


class LabelSummary(BaseModel):
    """What a labelling run did.

    ``labelled`` counts records with a teacher answer in the output (``resumed`` of them were already
    there); ``from_cache`` those whose answer cost no teacher call in this run; token counts are what
    this run paid. ``golden_kept`` labelled input records are in the output as training pairs; ``distributions``
    answers had their top-k distributions written (an answer a task re-rendered has none).
    """

    model_config = ConfigDict(extra="forbid")

    labelled: int = 0
    from_cache: int = 0
    teacher_calls: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    golden_kept: int = 0
    resumed: int = 0
    distributions: int = 0

    def public(self) -> dict[str, int | float]:
        """The stable ``--json`` shape: exactly :data:`SUMMARY_KEYS`."""
        return {key: getattr(self, key) for key in SUMMARY_KEYS}


def with_answer(record: ConversationRecord, answer: str) -> ConversationRecord:
    """The prompt record completed with the teacher's answer as the final assistant turn."""
    turn = Turn.model_validate({"role": "assistant", "content": [{"text": answer}]})
    return record.model_copy(update={"messages": [*record.messages, turn]})


def _plan_jobs(
    records: Sequence[ConversationRecord], lines: Sequence[int], out_path: Path
) -> tuple[list[Job], LabelSummary]:
    """The records still to write, and a summary that already counts those in the output."""
    if len(lines) != len(records):
        raise InvalidInputError("line_numbers must match records one to one", field="line_numbers")
    finished = done_ids(out_path)
    ids = assign_ids(records)
    jobs = [
        Job(line=line, record_id=rid, record=rec)
        for line, rid, rec in zip(lines, ids, records, strict=True)
        if rid not in finished
    ]
    done = [rec for rid, rec in zip(ids, records, strict=True) if rid in finished]
    golden = sum(rec.is_labelled for rec in done)
    resumed = len(done) - golden
    return jobs, LabelSummary(resumed=resumed, labelled=resumed, from_cache=resumed, golden_kept=golden)


def _attach_shots(jobs: list[Job], teacher: FewShotTeacher) -> None:
    """Retrieve the few-shot turns of every pending prompt in one batch."""
    prompts = [job for job in jobs if not job.record.is_labelled]
    for job, shots in zip(prompts, teacher.shots_for([query_text(j.record) for j in prompts]), strict=True):
        job.shots = shots


def label_records(
    records: Sequence[ConversationRecord],
    teacher: FewShotTeacher,
    config: LabelConfig | None = None,
    *,
    out_path: Path | str,
    line_numbers: Sequence[int] | None = None,
    invalid: Sequence[Failure] = (),
    sleep: Sleep = time.sleep,
    load_image: ImageLoader | None = None,
    executor: Executor | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LabelSummary:
    """Label ``records`` with ``teacher`` into ``out_path`` (JSONL), resuming what is already there.

    The labelled records among ``records`` join the teacher's golden examples for this run.
    ``invalid`` are records rejected before labelling (e.g. by validation); they are written to the
    failure report with this run's own failures. ``line_numbers`` are the input lines of ``records``
    (default 1..n); ``sleep`` is the backoff sleep (injectable for tests). ``executor`` is where the
    teacher's calls run (default: this process, ``config.workers`` threads); on a remote one the
    teacher's model must load where it is sent (a :class:`~stillhouse.models.lazy.LazyModel`), and the
    cache and output are still written here only. ``should_stop`` is asked before each record is
    written (a job being stopped): :class:`JobStoppedError`, with every answer so far in the output.
    """
    started = time.monotonic()
    config = config or LabelConfig()
    task = teacher.task
    if config.samples > 1 and task is None:
        raise InvalidInputError(
            "self-consistency (samples > 1) needs a task to combine answers", field="samples"
        )
    _check_distributions(config, teacher.model, task)
    out_path = Path(out_path)
    failures_path = config.failures_path or out_path.with_name(out_path.name + ".failures.jsonl")
    lines = list(line_numbers) if line_numbers is not None else list(range(1, len(records) + 1))
    jobs, summary = _plan_jobs(records, lines, out_path)
    _attach_shots(jobs, teacher.with_golden(records))
    plan = SamplingPlan(
        samples=config.samples,
        max_tokens=config.max_tokens,
        seed=config.seed,
        repair=config.repair,
        json_schema=task.json_schema if task else None,
        # Scored answers need no distribution from the generation: a cached answer stays cached.
        top_logprobs=config.top_logprobs if config.distributions_for == "answer" else 0,
    )
    scored_top_k = config.top_logprobs if config.distributions_for == "student" else 0
    runner = Runner(teacher.model, task, plan, teacher.cache, config.retry, sleep, load_image, scored_top_k)
    stage = label_stage(runner, config.workers)
    executor = executor or LocalExecutor()
    outcomes = _stoppable(executor.map(stage, jobs), should_stop)
    try:
        _run(outcomes, len(jobs), runner, summary, out_path, failures_path, invalid, config.progress)
    except ModelUnavailable as exc:  # a lazily loaded teacher that cannot load: the run fails once
        raise load_failure(exc) from exc
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _check_distributions(config: LabelConfig, model: ChatModel, task: Task | None) -> None:
    """Refuse, before any call, distributions that no single answer or this teacher can give."""
    if not config.top_logprobs:
        return
    if config.distributions_for == "student":
        if task is None or task.student_prompt is None:
            raise InvalidInputError(
                "distributions_for=student needs a task with a student format", field="distributions_for"
            )
        if not isinstance(model, ScoringChatModel):
            raise InvalidInputError(
                f"teacher {model.name!r} cannot score a given answer (distributions_for=student)",
                field="top_logprobs",
            )
        return
    if config.samples > 1:
        raise InvalidInputError(
            "top_logprobs records one answer's distributions; a combined answer (samples > 1) has none",
            field="top_logprobs",
        )
    if not isinstance(model, DistributionChatModel):
        raise InvalidInputError(
            f"teacher {model.name!r} cannot return token log-probabilities", field="top_logprobs"
        )


def _stoppable(outcomes: Iterator[Labelled], should_stop: Callable[[], bool] | None) -> Iterator[Labelled]:
    """``outcomes`` until a stop is asked for. An answer already given is written first (the
    stop is checked after it, before the next is asked for): a stopped job keeps every answer it
    paid for."""
    with closing(iter(outcomes)) as each:
        for outcome in each:
            yield outcome
            if should_stop is not None and should_stop():
                raise JobStoppedError("labelling stopped between records", field="status")


def _run(
    outcomes: Iterator[Labelled],
    total: int,
    runner: Runner,
    summary: LabelSummary,
    out_path: Path,
    failures_path: Path,
    invalid: Sequence[Failure],
    progress: bool,
) -> None:
    """Drive the jobs through the runner, writing each result the moment it is in order."""
    with (
        JsonlAppender(out_path) as out,
        JsonlAppender(failures_path, truncate=True) as failures,
        _distributions_out(out_path, runner.plan.top_logprobs or runner.scored_top_k) as dists,
        progress_bar("labelling", total=total, disable=not progress) as (bar, task_id),
    ):
        for failure in invalid:
            failures.write(failure.model_dump_json())
        summary.failed += len(invalid)
        for job, outcome, dist in outcomes:
            _write_distribution(dist, dists, summary)
            _record(job, outcome, summary, out, failures)
            info = f"calls {summary.teacher_calls} · cached {summary.from_cache} · failed {summary.failed}"
            bar.update(task_id, advance=1, info=info)


@contextmanager
def _distributions_out(out_path: Path, top_logprobs: int) -> Iterator[JsonlAppender | None]:
    if not top_logprobs:
        yield None
        return
    with JsonlAppender(distributions_path(out_path)) as appender:
        yield appender


def _write_distribution(
    dist: TokenDistribution | None, dists: JsonlAppender | None, summary: LabelSummary
) -> None:
    """The answer's distributions, written before the answer itself: a crash in between relabels
    the record from the cache on resume and writes them again (readers keep one per answer)."""
    if dists is not None and dist is not None:
        dists.write(dist.model_dump_json())
        summary.distributions += 1


def _record(
    job: Job, outcome: Outcome | None, summary: LabelSummary, out: JsonlAppender, failures: JsonlAppender
) -> None:
    """Write one finished job to the output or the failure report, and count it."""
    if outcome is None:
        out.write(job.record.to_json())
        summary.golden_kept += 1
        return
    summary.teacher_calls += outcome.teacher_calls
    summary.input_tokens += outcome.input_tokens
    summary.output_tokens += outcome.output_tokens
    if outcome.answer is None:
        reason = outcome.reason or "no valid answer"
        failures.write(
            Failure(
                line=job.line, record_id=job.record_id, reason=reason, attempts=outcome.attempts
            ).model_dump_json()
        )
        summary.failed += 1
        return
    out.write(with_answer(job.record, outcome.answer).to_json())
    summary.labelled += 1
    summary.from_cache += int(outcome.teacher_calls == 0)
