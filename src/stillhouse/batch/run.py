"""Running batch inference records through a model, in input order, through the request cache.

The same loop serves a batch job's worker (:mod:`stillhouse.batch.runner`) and ``stillhouse batch``
(:func:`run_file`). Every answer goes through :func:`stillhouse.teacher.cache.cached_generate`, so a
job killed part-way and run again asks the model only for the records it had not answered yet.
The model calls run where the loop's executor says (:func:`batch_stage`); the counts, the output
lines and the cache are written here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from stillhouse.batch.records import BatchRecord, model_output, output_line, parse_line
from stillhouse.chat import ChatModel, Completion
from stillhouse.errors import StillhouseError
from stillhouse.executors.base import Executor, LocalExecutor, Ready, Stage
from stillhouse.executors.spec import ExecutorSpec
from stillhouse.jobs.batch_schema import RecordCounts
from stillhouse.models.lazy import LazyModel, ModelUnavailable, load_failure
from stillhouse.teacher.cache import CacheEntry, CacheView, RequestCache, cache_key, cached_generate

# A record's answer: the completion, or the (HTTP status, message) of its error line.
Answer = tuple[Completion | None, tuple[int, str] | None]


@dataclass(frozen=True)
class BatchConfig:
    """How records are run: the token cap of a body that names none, how often counts are reported."""

    default_max_tokens: int = 512
    report_every: int = 10


class Stop(Exception):
    """``should_stop`` fired between two records; ``lines`` holds the output written so far."""

    def __init__(self, lines: list[str], counts: RecordCounts) -> None:
        super().__init__("stopped between records")
        self.lines, self.counts = lines, counts


@dataclass
class RecordLoop:
    """Runs records in input order; ``on_counts`` sees the counters every ``report_every`` records;
    ``executor`` is where the model calls run (default: here, one at a time)."""

    model: ChatModel
    cache: RequestCache | None
    config: BatchConfig = field(default_factory=BatchConfig)
    should_stop: Callable[[], bool] = lambda: False
    on_counts: Callable[[RecordCounts], None] = lambda counts: None
    executor: Executor | None = None

    def run(self, records: list[BatchRecord], counts: RecordCounts) -> list[str]:
        lines: list[str] = []
        executor = self.executor or LocalExecutor()
        with closing(iter(executor.map(batch_stage(self.model, self.cache), records))) as answers:
            for record in records:
                if self.should_stop():
                    raise Stop(lines, counts)
                lines.append(self._line(record, next(answers), counts))
                counts.processedRecordCount += 1
                if counts.processedRecordCount % self.config.report_every == 0:
                    self.on_counts(counts)
        return lines

    def _line(self, record: BatchRecord, answer: Answer, counts: RecordCounts) -> str:
        completion, error = answer
        if completion is None:
            counts.errorRecordCount += 1
            return output_line(record, None, error)
        assert record.call is not None
        counts.successRecordCount += 1
        counts.inputTokenCount += completion.input_tokens
        counts.outputTokenCount += completion.output_tokens
        return output_line(record, model_output(record.call, completion, self.model.name), None)


def answer_record(model: ChatModel, cache: Any, record: BatchRecord) -> Answer:
    """One record's model call through ``cache`` (the request cache, or a remote worker's view)."""
    if record.call is None:
        return None, (400, record.error or "invalid record")
    try:
        completion, _ = cached_generate(model, record.call.messages, record.call.params, cache)
    except ModelUnavailable:
        raise  # the run fails once, not every record
    except StillhouseError as exc:
        return None, (exc.http_status, str(exc))
    except Exception as exc:  # a backend's own failure is this record's error, not the job's
        return None, (500, f"{type(exc).__name__}: {exc}")
    return completion, None


def batch_stage(model: ChatModel, cache: RequestCache | None) -> Stage[BatchRecord, Answer]:
    """Batch inference as an executor stage: a remote worker answers what the cache does not."""
    return Stage(
        name="batch",
        local=partial(answer_record, model, cache),
        worker=model,
        remote=_answer_remotely,
        prepare=partial(_settle_here, model, cache),
        commit=partial(_commit, cache),
    )


def _settle_here(model: ChatModel, cache: RequestCache | None, record: BatchRecord) -> Any:
    """In the driver: an invalid or cached record's answer, else the record to send."""
    if record.call is None:
        return Ready(answer_record(model, cache, record))
    hit = cache.get(cache_key(model.name, record.call.messages, record.call.params)) if cache else None
    return Ready((hit, None)) if hit is not None else (record, cache is not None)


def _answer_remotely(model: ChatModel, sent: tuple[BatchRecord, bool]) -> tuple[Answer, list[CacheEntry]]:
    record, cached = sent
    view = CacheView([]) if cached else None
    return answer_record(model, view, record), view.added if view is not None else []


def _commit(
    cache: RequestCache | None, record: BatchRecord, returned: tuple[Answer, list[CacheEntry]]
) -> Answer:
    answer, added = returned
    if cache is not None:
        cache.commit(added)
    return answer


def parse_lines(
    lines: Iterable[str], invocation_type: str | None, config: BatchConfig, start: int = 0
) -> list[BatchRecord]:
    """The records of a file's lines (blank lines are not records)."""
    texts = [line for line in lines if line.strip()]
    return [
        parse_line(start + i, text, invocation_type, config.default_max_tokens)
        for i, text in enumerate(texts)
    ]


@dataclass(frozen=True)
class BatchFile:
    """``stillhouse batch``'s run: input and output files, the model spec, the request cache."""

    path: Path
    model: str
    out: Path
    cache: Path | None = None  # None: the teacher cache (STILLHOUSE_HOME/cache/teacher.sqlite)
    invocation_type: str | None = None
    config: BatchConfig = field(default_factory=BatchConfig)
    executor: ExecutorSpec | None = None  # None: this process


def batch_file(job: BatchFile, load: Callable[[str], ChatModel] | None = None) -> RecordCounts:
    """Run a local batch file through the model ``job.model`` names (loaded only if some record is not
    cached) and return the counts a job's ``manifest.json.out`` would hold."""
    from stillhouse.errors import NotFoundError
    from stillhouse.outputs import check_output_file

    if not job.path.is_file():
        raise NotFoundError(f"input file {job.path} does not exist", field="file")
    check_output_file(job.out)  # before any model runs
    if load is None:
        from stillhouse.models import load_model as load
    from stillhouse.executors.base import open_executor

    model = LazyModel(job.model, partial(load, job.model))
    with open_executor(job.executor) as executor, RequestCache(job.cache) as cache:
        try:
            return run_file(
                job.path,
                model,
                job.out,
                cache=cache,
                invocation_type=job.invocation_type,
                config=job.config,
                executor=executor,
            )
        except ModelUnavailable as exc:
            raise load_failure(exc) from exc  # the CLI's one-line message: no output file is written


def run_file(
    path: Path,
    model: ChatModel,
    out: Path,
    *,
    cache: RequestCache | None = None,
    invocation_type: str | None = None,
    config: BatchConfig | None = None,
    executor: Executor | None = None,
) -> RecordCounts:
    """Run every record of a local JSONL file, write the output lines to ``out`` (atomically, in
    input order) and return the counts a job's ``manifest.json.out`` would hold."""
    from stillhouse.outputs import atomic_file

    config = config or BatchConfig()
    records = parse_lines(path.read_text(encoding="utf-8").splitlines(), invocation_type, config)
    counts = RecordCounts(totalRecordCount=len(records))
    lines = RecordLoop(model, cache, config, executor=executor).run(records, counts)
    with atomic_file(out, encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return counts
