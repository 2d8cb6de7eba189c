"""A batch inference job's work, run by a job worker (``jobs.worker``'s runner for kind ``batch``).

Submitted -> Validating (read the input file or every ``.jsonl`` under the input prefix, resolve the
model) -> Scheduled -> InProgress (every record, in input order, through the job's request cache) ->
Completed / PartiallyCompleted / Failed, writing ``{s3Uri}{jobId}/{inputFileName}.out`` and
``{s3Uri}{jobId}/manifest.json.out`` where Bedrock writes them. A stop writes what was answered and
ends Stopped; a job past its ``jobExpirationTime`` ends Expired the same way. A worker killed part-way
leaves the job live: the next one redoes the loop, and the cache answers every record already paid for.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from stillhouse.batch.records import BatchRecord
from stillhouse.batch.run import BatchConfig, RecordLoop, Stop, parse_lines
from stillhouse.chat import ChatModel
from stillhouse.errors import DatasetError, NotFoundError, StillhouseError
from stillhouse.executors.base import RAN_ON, open_executor
from stillhouse.executors.spec import executor_from_env
from stillhouse.jobs import state
from stillhouse.jobs.batch import MANIFEST, output_prefix
from stillhouse.jobs.batch_schema import ModelInvocationJob, RecordCounts
from stillhouse.jobs.pipeline import Abandoned
from stillhouse.models.lazy import LazyModel, ModelUnavailable
from stillhouse.sources.objectstore import ObjectStore
from stillhouse.teacher.cache import RequestCache

if TYPE_CHECKING:
    from stillhouse.jobs.service import JobService

log = logging.getLogger(__name__)


def _load(spec: str) -> ChatModel:
    from stillhouse.models import load_model

    return load_model(spec)


def _store() -> ObjectStore:
    from stillhouse.sources.objectstore import open_store

    return open_store()


class _Stopped(Exception):
    def __init__(self, outputs: list[tuple[str, list[str]]], counts: RecordCounts) -> None:
        super().__init__("stopped between records")
        self.outputs, self.counts = outputs, counts


class BatchRunner:
    """``load`` turns a model spec into a model (tests pass a counting FakeModel); ``store`` opens the
    object store the job's ``s3://`` locations live in."""

    def __init__(
        self,
        load: Callable[[str], ChatModel] = _load,
        store: Callable[[], ObjectStore] = _store,
        config: BatchConfig | None = None,
    ) -> None:
        self.load, self.open_store, self.config = load, store, config or BatchConfig()

    def give_up(self, service: JobService, job_id: str, message: str) -> bool:
        """Fail a job that keeps killing its worker (one asked to stop is run to Stopped instead)."""
        if service.get_invocation_job(job_id).status in (*state.BATCH_TERMINAL, "Stopping"):
            return False
        _end(service, job_id, "Failed", message=message)
        return True

    def run(self, service: JobService, job_id: str, should_stop: Callable[[], bool]) -> ModelInvocationJob:
        job = service.get_invocation_job(job_id)
        if job.status in state.BATCH_TERMINAL:
            return job
        if job.status == "Stopping":
            return _end(service, job_id, "Stopped")
        try:
            return self._run(service, job_id, should_stop)
        except _Stopped as stop:
            return self._stopped(service, job_id, stop)
        except StillhouseError as exc:
            return _end(service, job_id, "Failed", message=str(exc))
        except ModelUnavailable as exc:
            return _end(service, job_id, "Failed", message=str(exc))
        except Abandoned:
            raise
        except Exception as exc:  # a bug: fail the job, keep the traceback beside it
            job_dir = service.job_dir(job_id)
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / "error.txt").write_text(traceback.format_exc())
            return _end(service, job_id, "Failed", message=f"internal error: {type(exc).__name__}: {exc}")

    def _run(self, service: JobService, job_id: str, should_stop: Callable[[], bool]) -> ModelInvocationJob:
        _advance(service, job_id, "Validating")
        request = service.invocation_job_request(job_id)
        store = self.open_store()
        files = self._read_inputs(
            store, request.inputDataConfig.s3InputDataConfig.s3Uri, request.modelInvocationType
        )
        spec = service.model_spec(request.modelId)
        total = sum(len(records) for _, records in files)
        if total == 0:
            raise DatasetError("the input holds no records", field="inputDataConfig")
        _advance(service, job_id, "Scheduled")
        _advance(service, job_id, "InProgress", totalRecordCount=total)
        expires = service.get_invocation_job(job_id).jobExpirationTime
        job_dir = service.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        counts = RecordCounts(totalRecordCount=total)
        where = executor_from_env(os.environ)  # as `stillhouse serve --executor` set it
        with open_executor(where) as executor, RequestCache(job_dir / "requests.sqlite") as cache:
            loop = RecordLoop(
                LazyModel(request.modelId, partial(self.load, spec)),
                cache,
                self.config,
                should_stop=lambda: should_stop() or (expires is not None and state.now() >= expires),
                on_counts=lambda c: _report(service, job_id, c),
                executor=executor,
            )
            outputs: list[tuple[str, list[str]]] = []
            for name, records in files:
                try:
                    outputs.append((name, loop.run(records, counts)))
                except Stop as stop:
                    raise _Stopped([*outputs, (name, stop.lines)], counts) from None
                finally:  # where the model calls ran: the console's job page shows it
                    service.save_progress(job_id, {RAN_ON: executor.info.model_dump(mode="json")})
        self._write(store, job_id, request.outputDataConfig.s3OutputDataConfig.s3Uri, outputs, counts)
        outcome = state.batch_outcome(counts.errorRecordCount, counts.successRecordCount)
        message = "every record failed; see the .out file's error lines" if outcome == "Failed" else None
        return _end(service, job_id, outcome, counts=counts, message=message)

    def _read_inputs(
        self, store: ObjectStore, uri: str, invocation_type: str | None
    ) -> list[tuple[str, list[BatchRecord]]]:
        """``(file name, records)`` of the input file, or of each ``.jsonl`` under the input prefix."""
        if not uri.endswith("/") and store.exists(uri):
            uris = [uri]
        else:
            prefix = uri if uri.endswith("/") else uri + "/"
            uris = sorted(u for u in store.list(prefix) if u.endswith(".jsonl"))
            if not uris:
                raise NotFoundError(f"no input file at {uri}", field="inputDataConfig")
        files, start = [], 0
        for u in uris:
            lines = store.get_bytes(u).decode("utf-8", errors="replace").splitlines()
            records = parse_lines(lines, invocation_type, self.config, start)
            files.append((u.rsplit("/", 1)[-1], records))
            start += len(records)
        return files

    def _write(
        self,
        store: ObjectStore,
        job_id: str,
        out_uri: str,
        outputs: list[tuple[str, list[str]]],
        counts: RecordCounts,
    ) -> None:
        base = output_prefix(out_uri, job_id)
        for name, lines in outputs:
            store.put_bytes(base + f"{name}.out", "".join(line + "\n" for line in lines).encode("utf-8"))
        store.put_bytes(base + MANIFEST, (counts.model_dump_json() + "\n").encode("utf-8"))

    def _stopped(self, service: JobService, job_id: str, stop: _Stopped) -> ModelInvocationJob:
        """A stop between records: Stopped (asked), Expired (past its time), else let go of the job."""
        job = service.get_invocation_job(job_id)
        expired = job.jobExpirationTime is not None and state.now() >= job.jobExpirationTime
        if job.status != "Stopping" and not expired:
            raise Abandoned(f"batch job {job_id} released")
        request = service.invocation_job_request(job_id)
        # The records answered so far are written, as Bedrock writes a stopped job's processed records.
        out_uri = request.outputDataConfig.s3OutputDataConfig.s3Uri
        self._write(self.open_store(), job_id, out_uri, stop.outputs, stop.counts)
        target = "Stopped" if job.status == "Stopping" else "Expired"
        return _end(service, job_id, target, counts=stop.counts)


def _advance(service: JobService, job_id: str, target: str, **extra: Any) -> None:
    at = state.now()
    service.update_invocation_job(
        job_id, lambda j: state.advance_batch(j, target, at).model_copy(update=extra)
    )


def _report(service: JobService, job_id: str, counts: RecordCounts) -> None:
    fields = counts.model_dump(include={"processedRecordCount", "successRecordCount", "errorRecordCount"})
    service.update_invocation_job(job_id, lambda j: j.model_copy(update=fields))


def _end(
    service: JobService,
    job_id: str,
    target: str,
    *,
    counts: RecordCounts | None = None,
    message: str | None = None,
) -> ModelInvocationJob:
    extra: dict[str, Any] = (
        counts.model_dump(exclude={"inputTokenCount", "outputTokenCount"}) if counts else {}
    )
    if message:
        extra["message"] = message[:2048]
    at = state.now()

    def change(job: ModelInvocationJob) -> ModelInvocationJob:
        if target == "Stopped" and job.status != "Stopping":
            job = state.move(job, state.BATCH_MOVES, "Stopping", at)
        return state.move(job, state.BATCH_MOVES, target, at, **extra)

    log.info("batch job %s -> %s", job_id, target)
    return service.update_invocation_job(job_id, change)
