"""An evaluation job's work on a job worker (the runner for kind ``evaluation``).

For each dataset and each model: the model's response to every prompt (asked through the job's
request cache, or read from the dataset's ``modelResponses`` for a precomputed inference source,
which asks no model at all), each metric's score, and Bedrock's output file at
``{s3Uri}/{jobName}/{jobId}/models/{model}/taskTypes/{taskType}/datasets/{dataset}/{jobId}_output.jsonl``.
A RAG evaluation of a precomputed retrieve-and-generate source scores the dataset's
``conversationTurns`` answers (the judge sees the retrieved passages) into
``{s3Uri}/{jobName}/{jobId}/inference_configs/0/datasets/{dataset}/{jobId}_output.jsonl``.
Beside them under ``{s3Uri}/{jobName}/{jobId}/``: ``summary.json`` (per model and metric: mean,
scored, unscored), and the ``results.json`` and ``report.html`` that ``stillhouse evaluate`` writes.
Judge calls go through the same cache, so a job resumed after a crash pays for nothing twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import traceback
from collections.abc import Callable
from contextlib import closing
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from stillhouse.chat import ChatModel, GenerationParams, Message
from stillhouse.errors import DatasetError, InvalidInputError, StillhouseError
from stillhouse.evaluate.bedrock_eval import (
    Answer,
    EvalRecord,
    Metric,
    RagRecord,
    example,
    rag_result_line,
    result_line,
    score,
    summarize_scores,
)
from stillhouse.executors import RAN_ON, Executor, LocalExecutor, Ready, Stage, open_executor
from stillhouse.executors.spec import executor_from_env
from stillhouse.jobs import state
from stillhouse.jobs.evaluation import SUMMARY, TASK_METRIC, output_prefix
from stillhouse.jobs.evaluation_report import COST_KEYS, write_report
from stillhouse.jobs.evaluation_schema import (
    AutomatedEvaluationConfig,
    BedrockModel,
    DatasetMetricConfig,
    EvaluationJob,
    ModelConfig,
)
from stillhouse.jobs.pipeline import Abandoned
from stillhouse.models.lazy import LazyModel, ModelUnavailable
from stillhouse.sources.objectstore import ObjectStore
from stillhouse.teacher.cache import CachedModel, CacheEntry, CacheView, RequestCache, cache_key

if TYPE_CHECKING:
    from stillhouse.evaluate.results import ExampleResult
    from stillhouse.jobs.service import JobService

log = logging.getLogger(__name__)
R = TypeVar("R", bound=BaseModel)
DEFAULT_MAX_TOKENS = 512


def _load(spec: str) -> ChatModel:
    from stillhouse.models import load_model

    return load_model(spec)


def _store() -> ObjectStore:
    from stillhouse.sources.objectstore import open_store

    return open_store()


class _Stop(Exception):
    pass


def inference_params(model: BedrockModel) -> GenerationParams:
    """``inferenceParams`` (a JSON string, ``{"inferenceConfig": {"maxTokens", "temperature", "topP"}}``)."""
    if not model.inferenceParams:
        return GenerationParams(max_tokens=DEFAULT_MAX_TOKENS)
    try:
        config = json.loads(model.inferenceParams).get("inferenceConfig", {})
        return GenerationParams(
            max_tokens=int(config.get("maxTokens", DEFAULT_MAX_TOKENS)),
            temperature=float(config.get("temperature", 0.0)),
            top_p=float(config.get("topP", 1.0)),
            stop=tuple(config.get("stopSequences", ())),
        )
    except (ValueError, TypeError, AttributeError, ValidationError) as exc:
        raise InvalidInputError(
            f"inferenceParams is not a valid inference config: {exc}", field="inferenceParams"
        ) from exc


def path_part(identifier: str) -> str:
    """A model id as one key segment (an ARN's ``/`` and a version's ``:`` become ``-``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", identifier)


class _Models:
    """Every model the job asks (evaluated models and judges), loaded lazily, answering through the cache."""

    def __init__(
        self,
        service: JobService,
        load: Callable[[str], ChatModel],
        cache: RequestCache,
        executor: Executor | None = None,
    ) -> None:
        self.service, self.load, self.cache = service, load, cache
        self.executor = executor or LocalExecutor()  # where the evaluated models' calls run
        self._models: dict[str, ChatModel] = {}

    def __getitem__(self, model_id: str) -> ChatModel:
        if model_id not in self._models:
            self._models[model_id] = CachedModel(self.unloaded(model_id), self.cache)
        return self._models[model_id]

    def unloaded(self, model_id: str) -> LazyModel:
        """The model ``model_id`` names, loaded on its first call (a remote worker loads its own)."""
        return LazyModel(model_id, partial(self.load, self.service.model_spec(model_id)))


class EvaluationRunner:
    """``load`` turns a model spec into a model (tests pass FakeModels); ``store`` opens the object store."""

    def __init__(
        self, load: Callable[[str], ChatModel] = _load, store: Callable[[], ObjectStore] = _store
    ) -> None:
        self.load, self.open_store = load, store

    def give_up(self, service: JobService, job_id: str, message: str) -> bool:
        """Fail a job that keeps killing its worker (one asked to stop is run to Stopped instead)."""
        if service.get_evaluation_job(job_id).status != "InProgress":
            return False
        _end(service, job_id, "Failed", message)
        return True

    def run(self, service: JobService, job_id: str, should_stop: Callable[[], bool]) -> EvaluationJob:
        job = service.get_evaluation_job(job_id)
        if job.status in state.TERMINAL:
            return job
        if job.status == "Stopping":
            return _end(service, job_id, "Stopped")
        try:
            return self._run(service, job, job_id, should_stop)
        except _Stop:
            if service.get_evaluation_job(job_id).status != "Stopping":
                raise Abandoned(f"evaluation job {job_id} released") from None
            return _end(service, job_id, "Stopped")
        except (StillhouseError, ModelUnavailable) as exc:
            return _end(service, job_id, "Failed", str(exc))
        except Exception as exc:  # a bug: fail the job, keep the traceback beside it
            job_dir = service.job_dir(job_id)
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / "error.txt").write_text(traceback.format_exc())
            return _end(service, job_id, "Failed", f"internal error: {type(exc).__name__}: {exc}")

    def _run(
        self, service: JobService, job: EvaluationJob, job_id: str, should_stop: Callable[[], bool]
    ) -> EvaluationJob:
        automated = job.evaluationConfig.automated
        assert automated is not None  # checked at create
        store, base = self.open_store(), output_prefix(job, job_id)
        job_dir = service.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        summary: dict[str, Any] = {}
        examples: dict[str, list[ExampleResult]] = {}
        where = executor_from_env(os.environ)  # as `stillhouse serve --executor` set it
        with open_executor(where) as executor, RequestCache(job_dir / "requests.sqlite") as cache:
            models = _Models(service, self.load, cache, executor)
            for config in automated.datasetMetricConfigs:
                assert config.dataset.datasetLocation is not None
                metrics = _metrics(automated, config.metricNames, models)
                runs = self._dataset(job, config, store, metrics, models, should_stop)
                for identifier, key, (lines, ex) in runs:
                    store.put_bytes(f"{base}/{key}/{job_id}_output.jsonl", _jsonl(lines))
                    label = identifier
                    if len(automated.datasetMetricConfigs) > 1:
                        label += f" / {config.dataset.name}"
                    summary[label] = summarize_scores(lines)
                    examples[label] = ex
            # Where the evaluated models' calls ran: the console's job page shows it.
            service.save_progress(job_id, {RAN_ON: executor.info.model_dump(mode="json")})
        results = write_report(store, base, job, automated, examples)
        for label, model_results in results.models.items():
            summary[label]["cost"] = model_results.summary.model_dump(include=set(COST_KEYS))
        store.put_bytes(f"{base}/{SUMMARY}", json.dumps(summary, indent=2).encode())
        return _end(service, job_id, "Completed")

    def _dataset(
        self,
        job: EvaluationJob,
        config: DatasetMetricConfig,
        store: ObjectStore,
        metrics: list[Metric],
        models: _Models,
        should_stop: Callable[[], bool],
    ) -> list[tuple[str, str, tuple[list[dict[str, Any]], list[ExampleResult]]]]:
        """``(label, output folder under the job's prefix, (lines, examples))`` per evaluated system."""
        assert config.dataset.datasetLocation is not None
        uri, name = config.dataset.datasetLocation.s3Uri, config.dataset.name
        rag_source = job.inferenceConfig.rag_source
        if rag_source is not None:
            rag = read_dataset(store, uri, RagRecord)
            return [
                (rag_source, f"inference_configs/0/datasets/{name}", _evaluate_rag(rag, metrics, should_stop))
            ]
        records = read_dataset(store, uri, EvalRecord)
        return [
            (
                m.identifier,
                f"models/{path_part(m.identifier)}/taskTypes/{config.taskType}/datasets/{name}",
                self._evaluate(m, records, metrics, models, should_stop),
            )
            for m in job.inferenceConfig.models or []
        ]

    def _evaluate(
        self,
        model_config: ModelConfig,
        records: list[EvalRecord],
        metrics: list[Metric],
        models: _Models,
        should_stop: Callable[[], bool],
    ) -> tuple[list[dict[str, Any]], list[ExampleResult]]:
        lines, examples = [], []
        answers = models.executor.map(_answer_stage(model_config, models), records)
        with closing(iter(answers)) as each:
            for index, record in enumerate(records):
                if should_stop():
                    raise _Stop()
                answer = next(each)
                reference = record.referenceResponse or ""
                scored = (
                    [score(m, record.prompt, answer.text, reference) for m in metrics]
                    if answer.text is not None
                    else []
                )
                lines.append(result_line(record, model_config.identifier, answer.text, scored, answer.error))
                examples.append(example(index, record.prompt, reference, answer, scored))
        return lines, examples


def _answer_stage(model_config: ModelConfig, models: _Models) -> Stage[EvalRecord, Answer]:
    """The evaluated model's calls as an executor stage: what the job's cache does not answer is
    asked by a remote worker, whose new cache entries the driver writes (``models.cache``)."""
    asked = model_config.bedrockModel is not None
    return Stage(
        name="evaluate",
        local=lambda record: _answer(model_config, record, models),
        worker=(model_config, models.unloaded(model_config.identifier) if asked else None),
        remote=_answer_remotely,
        prepare=lambda record: _settle_here(model_config, models, record),
        commit=lambda record, returned: _commit(models.cache, returned),
    )


def _settle_here(model_config: ModelConfig, models: _Models, record: EvalRecord) -> Any:
    """In the driver: a precomputed or cached answer (no model loads), else the record to send."""
    model = model_config.bedrockModel
    if model is None:
        return Ready(_answer(model_config, record, models))
    key = cache_key(
        model_config.identifier, [Message(role="user", content=record.prompt)], inference_params(model)
    )
    return Ready(_answer(model_config, record, models)) if models.cache.get(key) else record


def _answer_remotely(
    worker: tuple[ModelConfig, LazyModel], record: EvalRecord
) -> tuple[Answer, list[CacheEntry]]:
    model_config, model = worker
    view = CacheView([])
    answer = _answer(model_config, record, {model_config.identifier: CachedModel(model, view)})  # type: ignore[arg-type]
    return answer, view.added


def _commit(cache: RequestCache, returned: tuple[Answer, list[CacheEntry]]) -> Answer:
    answer, added = returned
    cache.commit(added)
    return answer


def _evaluate_rag(
    records: list[RagRecord], metrics: list[Metric], should_stop: Callable[[], bool]
) -> tuple[list[dict[str, Any]], list[ExampleResult]]:
    """Score each precomputed RAG answer (nothing is generated here: only the judges are asked)."""
    lines, examples = [], []
    for index, record in enumerate(records):
        if should_stop():
            raise _Stop()
        answer = record.turn.output.text
        scored = [score(m, record.judge_prompt(), answer, record.reference) for m in metrics]
        lines.append(rag_result_line(record, scored))
        examples.append(example(index, record.turn.prompt.text, record.reference, Answer(answer), scored))
    return lines, examples


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode("utf-8")


def _answer(model_config: ModelConfig, record: EvalRecord, models: _Models) -> Answer:
    """The evaluated model's response: read from the record (precomputed) or asked (timed, and its
    process CPU time measured: the core-seconds a self-hosted model's cost is priced by)."""
    if model_config.precomputedInferenceSource is not None:
        source = model_config.precomputedInferenceSource.inferenceSourceIdentifier
        text = record.response_of(source)
        return (
            Answer(text)
            if text is not None
            else Answer(None, f"the record has no modelResponses from {source!r}")
        )
    assert model_config.bedrockModel is not None
    params = inference_params(model_config.bedrockModel)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        completion = models[model_config.identifier].generate(
            [Message(role="user", content=record.prompt)], params
        )
    except StillhouseError as exc:  # a failed call is this record's error, not the job's
        return Answer(None, f"{type(exc).__name__}: {exc}")
    latency = completion.latency_ms or (time.perf_counter() - wall) * 1000.0
    return Answer(
        completion.text,
        latency_ms=latency,
        input_tokens=completion.input_tokens,
        output_tokens=completion.output_tokens,
        core_seconds=time.process_time() - cpu,
    )


def read_dataset(store: ObjectStore, uri: str, kind: type[R]) -> list[R]:
    """The dataset's records; a line that is not one fails the job naming the line, as Bedrock's
    validation does."""
    records: list[R] = []
    for number, line in enumerate(store.get_bytes(uri).decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(kind.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise DatasetError(
                f"{uri} line {number}: {where}: {first['msg']}", field="datasetLocation"
            ) from exc
    if not records:
        raise DatasetError(f"{uri} holds no records", field="datasetLocation")
    return records


def _metrics(automated: AutomatedEvaluationConfig, names: list[str], models: _Models) -> list[Metric]:
    from stillhouse.evaluate.bedrock_metrics import BUILTIN_METRICS
    from stillhouse.evaluate.judge import Judge, JudgeRubric
    from stillhouse.tasks import get_task

    custom = automated.customMetricConfig
    defined = {
        m.customMetricDefinition.name: m.customMetricDefinition
        for m in (custom.customMetrics if custom else [])
    }
    metrics = []
    for name in names:
        if name in defined and custom is not None:
            judge_id = custom.evaluatorModelConfig.bedrockEvaluatorModels[0].modelIdentifier
            rubric = JudgeRubric.model_validate(defined[name].model_dump(exclude_none=True))
            metrics.append(Metric(name, Judge(models[judge_id], rubric), judge_id))
        elif name.startswith(TASK_METRIC):
            metrics.append(Metric(name, task=get_task(name.removeprefix(TASK_METRIC))))
        else:
            assert automated.evaluatorModelConfig is not None  # checked at create
            judge_id = automated.evaluatorModelConfig.bedrockEvaluatorModels[0].modelIdentifier
            metrics.append(
                Metric(name, Judge(models[judge_id], BUILTIN_METRICS[name]), judge_id, builtin=True)
            )
    return metrics


def _end(service: JobService, job_id: str, target: str, message: str | None = None) -> EvaluationJob:
    at = state.now()

    def change(job: EvaluationJob) -> EvaluationJob:
        extra: dict[str, Any] = {"failureMessages": [message[:2048]]} if message else {}
        if target == "Stopped" and job.status != "Stopping":
            job = state.move(job, state.EVALUATION_MOVES, "Stopping", at)
        return state.move(job, state.EVALUATION_MOVES, target, at, **extra)

    log.info("evaluation job %s -> %s", job_id, target)
    return service.update_evaluation_job(job_id, change)
