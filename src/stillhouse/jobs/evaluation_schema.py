"""Wire models of Bedrock's evaluation jobs (``CreateEvaluationJob`` and friends), botocore's names.

Automated evaluation with an LLM judge is what runs here: of models (asked here, or their precomputed
responses) and of precomputed retrieve-and-generate RAG sources. Human evaluation, knowledge-base
configs and retrieve-only sources are accepted by the shape and refused with a ValidationException.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stillhouse.jobs.batch_schema import ROLE_ARN, S3_URI
from stillhouse.jobs.schema import SortOrder, Tag

EvaluationJobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting"]
ApplicationType = Literal["ModelEvaluation", "RagEvaluation"]
TaskType = Literal["Summarization", "Classification", "QuestionAndAnswer", "Generation", "Custom"]
JOB_NAME = r"^[a-z0-9](-*[a-z0-9]){0,62}$"
TOKEN = r"^[a-zA-Z0-9]([-a-zA-Z0-9]{0,254}[a-zA-Z0-9])?$"
METRIC = r"^[0-9a-zA-Z-_.]+$"
SOURCE_ID = r"^[a-zA-Z0-9]([a-zA-Z0-9._-]){0,255}$"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _exactly_one(model: BaseModel, *names: str) -> None:
    if sum(getattr(model, n) is not None for n in names) != 1:
        raise ValueError(f"exactly one of {', '.join(repr(n) for n in names)} is required")


class DatasetLocation(_Wire):
    s3Uri: str = Field(min_length=1, max_length=1024, pattern=S3_URI)


class EvaluationDataset(_Wire):
    name: str = Field(min_length=1, max_length=63, pattern=METRIC)
    datasetLocation: DatasetLocation | None = None


class DatasetMetricConfig(_Wire):
    taskType: TaskType
    dataset: EvaluationDataset
    metricNames: list[str] = Field(min_length=1, max_length=25)


class EvaluatorModel(_Wire):
    modelIdentifier: str = Field(min_length=1, max_length=2048)


class EvaluatorModelConfig(_Wire):
    bedrockEvaluatorModels: list[EvaluatorModel] = Field(min_length=1, max_length=1)


class RatingValue(_Wire):
    stringValue: str | None = Field(default=None, min_length=1, max_length=100)
    floatValue: float | None = None

    @model_validator(mode="after")
    def _one(self) -> RatingValue:
        _exactly_one(self, "stringValue", "floatValue")
        return self


class RatingScaleItem(_Wire):
    definition: str = Field(min_length=1, max_length=100)
    value: RatingValue


class CustomMetricDefinition(_Wire):
    name: str = Field(min_length=1, max_length=63, pattern=METRIC)
    instructions: str = Field(min_length=1, max_length=5000)
    ratingScale: list[RatingScaleItem] | None = Field(default=None, min_length=1, max_length=10)


class CustomMetricSource(_Wire):
    customMetricDefinition: CustomMetricDefinition


class CustomMetricConfig(_Wire):
    customMetrics: list[CustomMetricSource] = Field(min_length=1, max_length=10)
    evaluatorModelConfig: EvaluatorModelConfig


class AutomatedEvaluationConfig(_Wire):
    datasetMetricConfigs: list[DatasetMetricConfig] = Field(min_length=1, max_length=5)
    evaluatorModelConfig: EvaluatorModelConfig | None = None
    customMetricConfig: CustomMetricConfig | None = None


class EvaluationConfig(_Wire):
    automated: AutomatedEvaluationConfig | None = None
    human: dict[str, Any] | None = None  # the shape is accepted; a human job is refused at create

    @model_validator(mode="after")
    def _one(self) -> EvaluationConfig:
        _exactly_one(self, "automated", "human")
        return self


class PerformanceConfig(_Wire):
    latency: Literal["standard", "optimized"] | None = None


class BedrockModel(_Wire):
    modelIdentifier: str = Field(min_length=1, max_length=2048)
    inferenceParams: str | None = Field(default=None, min_length=1, max_length=1023)
    performanceConfig: PerformanceConfig | None = None


class PrecomputedInferenceSource(_Wire):
    inferenceSourceIdentifier: str = Field(min_length=1, max_length=256, pattern=SOURCE_ID)


class ModelConfig(_Wire):
    bedrockModel: BedrockModel | None = None
    precomputedInferenceSource: PrecomputedInferenceSource | None = None

    @model_validator(mode="after")
    def _one(self) -> ModelConfig:
        _exactly_one(self, "bedrockModel", "precomputedInferenceSource")
        return self

    @property
    def identifier(self) -> str:
        if self.bedrockModel is not None:
            return self.bedrockModel.modelIdentifier
        assert self.precomputedInferenceSource is not None
        return self.precomputedInferenceSource.inferenceSourceIdentifier


class RagSourceConfig(_Wire):
    ragSourceIdentifier: str = Field(min_length=1, max_length=256, pattern=SOURCE_ID)


class PrecomputedRagSourceConfig(_Wire):
    retrieveSourceConfig: RagSourceConfig | None = None
    retrieveAndGenerateSourceConfig: RagSourceConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> PrecomputedRagSourceConfig:
        _exactly_one(self, "retrieveSourceConfig", "retrieveAndGenerateSourceConfig")
        return self


class RagConfig(_Wire):
    knowledgeBaseConfig: dict[str, Any] | None = None  # accepted by the shape; refused at create
    precomputedRagSourceConfig: PrecomputedRagSourceConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> RagConfig:
        _exactly_one(self, "knowledgeBaseConfig", "precomputedRagSourceConfig")
        return self


class InferenceConfig(_Wire):
    models: list[ModelConfig] | None = Field(default=None, min_length=1, max_length=2)
    ragConfigs: list[RagConfig] | None = Field(default=None, min_length=1, max_length=1)

    @property
    def rag_source(self) -> str | None:
        """The precomputed retrieve-and-generate source of a RAG evaluation, if that is what it is."""
        config = self.ragConfigs[0].precomputedRagSourceConfig if self.ragConfigs else None
        generated = config.retrieveAndGenerateSourceConfig if config else None
        return generated.ragSourceIdentifier if generated else None

    @model_validator(mode="after")
    def _one(self) -> InferenceConfig:
        _exactly_one(self, "models", "ragConfigs")
        return self


class OutputDataConfig(_Wire):
    s3Uri: str = Field(min_length=1, max_length=1024, pattern=S3_URI)


class CreateEvaluationJobRequest(_Wire):
    """The body of ``POST /evaluation-jobs``."""

    jobName: str = Field(min_length=1, max_length=63, pattern=JOB_NAME)
    jobDescription: str | None = Field(default=None, min_length=1, max_length=200)
    clientRequestToken: str | None = Field(default=None, min_length=1, max_length=256, pattern=TOKEN)
    roleArn: str = Field(max_length=2048, pattern=ROLE_ARN)
    customerEncryptionKeyId: str | None = Field(default=None, min_length=1, max_length=2048)
    jobTags: list[Tag] | None = Field(default=None, max_length=200)
    applicationType: ApplicationType | None = None
    evaluationConfig: EvaluationConfig
    inferenceConfig: InferenceConfig
    outputDataConfig: OutputDataConfig


class CreateEvaluationJobResponse(_Wire):
    jobArn: str


class EvaluationJob(_Wire):
    """``GetEvaluationJob``'s answer."""

    jobName: str
    status: EvaluationJobStatus = "InProgress"
    jobArn: str
    jobDescription: str | None = None
    roleArn: str
    customerEncryptionKeyId: str | None = None
    jobType: Literal["Human", "Automated"] = "Automated"
    applicationType: ApplicationType = "ModelEvaluation"
    evaluationConfig: EvaluationConfig
    inferenceConfig: InferenceConfig
    outputDataConfig: OutputDataConfig
    creationTime: datetime
    lastModifiedTime: datetime | None = None
    failureMessages: list[str] | None = Field(default=None, max_length=20)


class ModelConfigSummary(_Wire):
    bedrockModelIdentifiers: list[str] | None = None
    precomputedInferenceSourceIdentifiers: list[str] | None = None


class RagConfigSummary(_Wire):
    bedrockKnowledgeBaseIdentifiers: list[str] | None = None
    precomputedRagSourceIdentifiers: list[str] | None = None


class InferenceConfigSummary(_Wire):
    modelConfigSummary: ModelConfigSummary | None = None
    ragConfigSummary: RagConfigSummary | None = None


class EvaluationSummary(_Wire):
    jobArn: str
    jobName: str
    status: EvaluationJobStatus
    creationTime: datetime
    jobType: Literal["Human", "Automated"]
    evaluationTaskTypes: list[TaskType]
    modelIdentifiers: list[str] | None = None
    evaluatorModelIdentifiers: list[str] | None = None
    customMetricsEvaluatorModelIdentifiers: list[str] | None = None
    inferenceConfigSummary: InferenceConfigSummary | None = None
    applicationType: ApplicationType | None = None


class ListEvaluationJobsRequest(_Wire):
    """Query parameters of ``GET /evaluation-jobs``."""

    creationTimeAfter: datetime | None = None
    creationTimeBefore: datetime | None = None
    statusEquals: EvaluationJobStatus | None = None
    applicationTypeEquals: ApplicationType | None = None
    nameContains: str | None = Field(default=None, min_length=1, max_length=63, pattern=JOB_NAME)
    maxResults: int = Field(default=20, ge=1, le=1000)
    nextToken: str | None = Field(default=None, min_length=1, max_length=2048)
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"


class ListEvaluationJobsResponse(_Wire):
    nextToken: str | None = None
    jobSummaries: list[EvaluationSummary]
