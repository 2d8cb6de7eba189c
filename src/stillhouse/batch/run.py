"""Running batch inference records through a model, in input order, through the request cache.

The same loop serves a batch job's worker (:mod:`stillhouse.batch.runner`) and ``stillhouse batch``
(:func:`run_file`). Every answer goes through :func:`stillhouse.teacher.cache.cached_generate`, so a
job killed part-way and run again asks the model only for the records it had not answered yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stillhouse.batch.records import BatchRecord, model_output, output_line, parse_line
from stillhouse.chat import ChatModel
from stillhouse.errors import StillhouseError
from stillhouse.jobs.batch_schema import RecordCounts
from stillhouse.models.lazy import LazyModel, ModelUnavailable
from stillhouse.teacher.cache import RequestCache, cached_generate


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
    """Runs records one at a time; ``on_counts`` sees the counters every ``report_every`` records."""

    model: ChatModel
    cache: RequestCache | None
    config: BatchConfig = field(default_factory=BatchConfig)
    should_stop: Callable[[], bool] = lambda: False
    on_counts: Callable[[RecordCounts], None] = lambda counts: None

    def run(self, records: list[BatchRecord], counts: RecordCounts) -> list[str]:
        lines: list[str] = []
        for record in records:
            if self.should_stop():
                raise Stop(lines, counts)
            lines.append(self._one(record, counts))
            counts.processedRecordCount += 1
            if counts.processedRecordCount % self.config.report_every == 0:
                self.on_counts(counts)
        return lines

    def _one(self, record: BatchRecord, counts: RecordCounts) -> str:
        if record.call is None:
            counts.errorRecordCount += 1
            return output_line(record, None, (400, record.error or "invalid record"))
        try:
            completion, _ = cached_generate(self.model, record.call.messages, record.call.params, self.cache)
        except ModelUnavailable:
            raise  # the run fails once, not every record
        except StillhouseError as exc:
            counts.errorRecordCount += 1
            return output_line(record, None, (exc.http_status, str(exc)))
        except Exception as exc:  # a backend's own failure is this record's error, not the job's
            counts.errorRecordCount += 1
            return output_line(record, None, (500, f"{type(exc).__name__}: {exc}"))
        counts.successRecordCount += 1
        counts.inputTokenCount += completion.input_tokens
        counts.outputTokenCount += completion.output_tokens
        return output_line(record, model_output(record.call, completion, self.model.name), None)


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
    model = LazyModel(job.model, lambda: load(job.model))
    with RequestCache(job.cache) as cache:
        try:
            return run_file(
                job.path, model, job.out, cache=cache, invocation_type=job.invocation_type, config=job.config
            )
        except ModelUnavailable as exc:
            raise exc.cause from exc  # the CLI's one-line message: no output file is written


def run_file(
    path: Path,
    model: ChatModel,
    out: Path,
    *,
    cache: RequestCache | None = None,
    invocation_type: str | None = None,
    config: BatchConfig | None = None,
) -> RecordCounts:
    """Run every record of a local JSONL file, write the output lines to ``out`` (atomically, in
    input order) and return the counts a job's ``manifest.json.out`` would hold."""
    from stillhouse.outputs import atomic_file

    config = config or BatchConfig()
    records = parse_lines(path.read_text(encoding="utf-8").splitlines(), invocation_type, config)
    counts = RecordCounts(totalRecordCount=len(records))
    lines = RecordLoop(model, cache, config).run(records, counts)
    with atomic_file(out, encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return counts
