"""Evaluation jobs (``CreateEvaluationJob`` and friends), part of :class:`JobService`.

A job is checked whole at create time, as Bedrock does: every metric name is a supported built-in
judge metric (which then needs ``evaluatorModelConfig``), a custom metric defined in
``customMetricConfig``, or ``Task.<name>``, a registered task's deterministic rubric that needs no
judge. A worker runs it (:mod:`stillhouse.jobs.evaluation_run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stillhouse.errors import InvalidInputError
from stillhouse.jobs import kinds, state
from stillhouse.jobs.evaluation_schema import (
    CreateEvaluationJobRequest,
    CreateEvaluationJobResponse,
    EvaluationJob,
    EvaluationSummary,
    InferenceConfigSummary,
    ListEvaluationJobsRequest,
    ListEvaluationJobsResponse,
    ModelConfigSummary,
    RagConfigSummary,
)
from stillhouse.jobs.schema import parse_wire
from stillhouse.jobs.store import ListQuery

if TYPE_CHECKING:
    from stillhouse.jobs.store import Store

EVALUATION = kinds.Kind(
    name="evaluation",
    arn_type="evaluation-job",
    doc=EvaluationJob,
    moves=state.EVALUATION_MOVES,
    label="evaluation job",
)
TASK_METRIC = "Task."
SUMMARY = "summary.json"  # per model and metric: mean, scored, unscored (and cost)
REPORT = "report.html"  # as ``stillhouse evaluate`` writes it


class EvaluationJobsMixin:
    """Evaluation job methods of the job service (they share its store)."""

    store: Store

    def create_evaluation_job(
        self, request: CreateEvaluationJobRequest | dict[str, Any]
    ) -> CreateEvaluationJobResponse:
        """Record a job InProgress (a worker runs it); idempotent on ``clientRequestToken``."""
        req: CreateEvaluationJobRequest = parse_wire(CreateEvaluationJobRequest, request)
        check_request(req)
        job_id, _ = kinds.create(
            self.store, EVALUATION, req, req.jobName, req.clientRequestToken, lambda i: _new_job(i, req)
        )
        return CreateEvaluationJobResponse(jobArn=kinds.arn(EVALUATION, job_id))

    def get_evaluation_job(self, identifier: str) -> EvaluationJob:
        """``GetEvaluationJob`` by ARN, name or id."""
        return kinds.get(self.store, EVALUATION, identifier)

    def evaluation_job_id(self, identifier: str) -> str:
        return kinds.find(self.store, EVALUATION, identifier)["id"]

    def list_evaluation_jobs(
        self, request: ListEvaluationJobsRequest | dict[str, Any] | None = None
    ) -> ListEvaluationJobsResponse:
        """``ListEvaluationJobs`` with status/name/application/time filters and paging."""
        req = parse_wire(ListEvaluationJobsRequest, request or {})
        application = ("json_extract(doc, '$.applicationType') = ?", req.applicationTypeEquals)
        query = ListQuery.of(
            req, req.creationTimeAfter, req.creationTimeBefore, req.statusEquals, application
        )
        jobs, token = kinds.page(self.store, EVALUATION, query)
        return ListEvaluationJobsResponse(nextToken=token, jobSummaries=[summary(j) for j in jobs])

    def stop_evaluation_job(self, identifier: str) -> None:
        """``StopEvaluationJob``: the worker stops at its next record."""
        kinds.stop(self.store, EVALUATION, identifier)

    def update_evaluation_job(
        self, job_id: str, change: Callable[[EvaluationJob], EvaluationJob]
    ) -> EvaluationJob:
        return kinds.update(self.store, EVALUATION, job_id, lambda job, leased: change(job))


def check_request(req: CreateEvaluationJobRequest) -> None:
    """What Bedrock refuses at create time (and what this server does not run), as 400s."""
    rag = req.inferenceConfig.ragConfigs is not None
    if rag != (req.applicationType == "RagEvaluation"):
        raise InvalidInputError(
            "applicationType RagEvaluation goes with inferenceConfig.ragConfigs, ModelEvaluation with models",
            field="applicationType",
        )
    if rag and req.inferenceConfig.rag_source is None:
        raise InvalidInputError(
            "only a precomputedRagSourceConfig.retrieveAndGenerateSourceConfig RAG source is supported here",
            field="inferenceConfig.ragConfigs",
        )
    automated = req.evaluationConfig.automated
    if automated is None:
        raise InvalidInputError("human evaluation is not supported here", field="evaluationConfig.human")
    custom = {m.customMetricDefinition.name: m.customMetricDefinition for m in _custom(req)}
    for config in automated.datasetMetricConfigs:
        if config.dataset.datasetLocation is None:
            raise InvalidInputError("a dataset needs a datasetLocation", field="dataset.datasetLocation")
        for name in config.metricNames:
            _check_metric(name, custom, automated.evaluatorModelConfig is not None)
    for definition in custom.values():
        _check_scale(definition)


def _custom(req: CreateEvaluationJobRequest) -> list[Any]:
    automated = req.evaluationConfig.automated
    config = automated.customMetricConfig if automated else None
    return list(config.customMetrics) if config else []


def _check_metric(name: str, custom: dict[str, Any], has_judge: bool) -> None:
    from stillhouse.evaluate.bedrock_metrics import BUILTIN_METRICS

    if name in custom:
        return
    if name.startswith(TASK_METRIC):
        from stillhouse.tasks import get_task

        get_task(name.removeprefix(TASK_METRIC))  # a 400 naming the registered tasks
        return
    if name not in BUILTIN_METRICS:
        known = ", ".join(sorted(BUILTIN_METRICS))
        raise InvalidInputError(
            f"metric {name!r} is neither a custom metric of this job, a Task.<name> rubric nor one of {known}",
            field="metricNames",
        )
    if not has_judge:
        raise InvalidInputError(
            f"{name} is judged by a model: evaluatorModelConfig is required", field="evaluatorModelConfig"
        )


def _check_scale(definition: Any) -> None:
    """A custom metric's scale must have at least two numeric steps for a judge to grade on."""
    if not definition.ratingScale or len(definition.ratingScale) < 2:
        raise InvalidInputError(
            f"custom metric {definition.name!r} needs a ratingScale of two or more steps", field="ratingScale"
        )
    for item in definition.ratingScale:
        value = item.value.floatValue if item.value.floatValue is not None else item.value.stringValue
        try:
            float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"custom metric {definition.name!r}: rating value {value!r} is not a number",
                field="ratingScale",
            ) from exc


def _new_job(job_id: str, req: CreateEvaluationJobRequest) -> EvaluationJob:
    at = state.now()
    return EvaluationJob(
        jobName=req.jobName,
        status="InProgress",
        jobArn=kinds.arn(EVALUATION, job_id),
        jobDescription=req.jobDescription,
        roleArn=req.roleArn,
        customerEncryptionKeyId=req.customerEncryptionKeyId,
        jobType="Automated",
        applicationType=req.applicationType or "ModelEvaluation",
        evaluationConfig=req.evaluationConfig,
        inferenceConfig=req.inferenceConfig,
        outputDataConfig=req.outputDataConfig,
        creationTime=at,
        lastModifiedTime=at,
    )


def output_prefix(job: EvaluationJob, job_id: str) -> str:
    """Where a job's outputs go: ``{s3Uri}/{jobName}/{jobId}``, as Bedrock writes them."""
    return job.outputDataConfig.s3Uri.rstrip("/") + f"/{job.jobName}/{job_id}"


def summary(job: EvaluationJob) -> EvaluationSummary:
    automated = job.evaluationConfig.automated
    assert automated is not None  # only automated jobs are created
    models = job.inferenceConfig.models or []
    bedrock = [m.bedrockModel.modelIdentifier for m in models if m.bedrockModel]
    precomputed = [
        m.precomputedInferenceSource.inferenceSourceIdentifier for m in models if m.precomputedInferenceSource
    ]
    judges = automated.evaluatorModelConfig
    custom = automated.customMetricConfig
    return EvaluationSummary(
        jobArn=job.jobArn,
        jobName=job.jobName,
        status=job.status,
        creationTime=job.creationTime,
        jobType=job.jobType,
        evaluationTaskTypes=sorted({c.taskType for c in automated.datasetMetricConfigs}),
        modelIdentifiers=bedrock or None,
        evaluatorModelIdentifiers=[m.modelIdentifier for m in judges.bedrockEvaluatorModels]
        if judges
        else None,
        customMetricsEvaluatorModelIdentifiers=[
            m.modelIdentifier for m in custom.evaluatorModelConfig.bedrockEvaluatorModels
        ]
        if custom
        else None,
        inferenceConfigSummary=InferenceConfigSummary(
            modelConfigSummary=ModelConfigSummary(
                bedrockModelIdentifiers=bedrock or None,
                precomputedInferenceSourceIdentifiers=precomputed or None,
            )
            if models
            else None,
            ragConfigSummary=RagConfigSummary(
                precomputedRagSourceIdentifiers=[job.inferenceConfig.rag_source]
            )
            if job.inferenceConfig.rag_source
            else None,
        ),
        applicationType=job.applicationType,
    )
