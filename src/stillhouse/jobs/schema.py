"""Wire models of Bedrock's customization control plane, in Bedrock's own field names.

``CreateModelCustomizationJob`` / ``GetModelCustomizationJob`` / ``ListModelCustomizationJobs`` /
``StopModelCustomizationJob``, custom models (``GetCustomModel``, ``ListCustomModels``) and custom
model deployments (``CreateCustomModelDeployment`` ...). Requests refuse unknown keys so a typo is an
error, not a silently ignored setting. Responses are what the HTTP layer serialises as they are
(``model_dump(mode="json", exclude_none=True)``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stillhouse.errors import InvalidInputError
from stillhouse.sources.invocation_logs import (  # noqa: F401  (re-exported: part of the job request)
    InvocationLogsConfig,
    InvocationLogSource,
    RequestMetadataBaseFilters,
    RequestMetadataFilters,
    S3Uri,
    error_text,
)

JobStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
StageStatus = Literal["NotStarted", "InProgress", "Completed", "Stopping", "Stopped", "Failed"]
CustomizationType = Literal["DISTILLATION", "FINE_TUNING"]
SortOrder = Literal["Ascending", "Descending"]
ModelStatus = Literal["Active", "Creating", "Failed"]
DeploymentStatus = Literal["Creating", "Active", "Failed"]
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*$"
W = TypeVar("W", bound=BaseModel)


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------ job request parts


class Tag(_Wire):
    key: str = Field(min_length=1, max_length=128)
    value: str = Field(max_length=256)


class VpcConfig(_Wire):
    """Accepted for compatibility; a self-hosted job has no VPC to join."""

    subnetIds: list[str]
    securityGroupIds: list[str]


class TrainingDataConfig(_Wire):
    """Exactly one of an ``s3Uri`` JSONL file/folder or an ``invocationLogsConfig``."""

    s3Uri: S3Uri | None = None
    invocationLogsConfig: InvocationLogsConfig | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TrainingDataConfig:
        if (self.s3Uri is None) == (self.invocationLogsConfig is None):
            raise ValueError("trainingDataConfig needs exactly one of 's3Uri' or 'invocationLogsConfig'")
        return self


class Validator(_Wire):
    s3Uri: S3Uri


class ValidationDataConfig(_Wire):
    validators: list[Validator] = Field(min_length=1, max_length=10)


class OutputDataConfig(_Wire):
    s3Uri: S3Uri


class TeacherModelConfig(_Wire):
    teacherModelIdentifier: str = Field(min_length=1)
    maxResponseLengthForInference: int | None = Field(default=None, ge=1, le=32768)


class DistillationConfig(_Wire):
    teacherModelConfig: TeacherModelConfig


class CustomizationConfig(_Wire):
    distillationConfig: DistillationConfig | None = None


class CreateModelCustomizationJobRequest(_Wire):
    """The body of ``POST /model-customization-jobs``."""

    jobName: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    customModelName: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    roleArn: str = Field(min_length=1)  # accepted, unused: there is no IAM to assume here
    clientRequestToken: str | None = Field(default=None, min_length=1, max_length=256)
    baseModelIdentifier: str = Field(min_length=1)
    customizationType: CustomizationType = "FINE_TUNING"
    customModelKmsKeyId: str | None = None
    jobTags: list[Tag] | None = None
    customModelTags: list[Tag] | None = None
    trainingDataConfig: TrainingDataConfig
    validationDataConfig: ValidationDataConfig | None = None
    outputDataConfig: OutputDataConfig
    hyperParameters: dict[str, str] = Field(default_factory=dict)
    vpcConfig: VpcConfig | None = None
    customizationConfig: CustomizationConfig | None = None

    @model_validator(mode="after")
    def _distillation_has_teacher(self) -> CreateModelCustomizationJobRequest:
        if self.customizationType == "DISTILLATION" and self.teacher is None:
            raise ValueError("DISTILLATION needs customizationConfig.distillationConfig.teacherModelConfig")
        if self.customizationType == "FINE_TUNING" and self.teacher is not None:
            raise ValueError("customizationConfig.distillationConfig is only valid for DISTILLATION")
        return self

    @property
    def teacher(self) -> TeacherModelConfig | None:
        dc = self.customizationConfig.distillationConfig if self.customizationConfig else None
        return dc.teacherModelConfig if dc else None


class CreateModelCustomizationJobResponse(_Wire):
    jobArn: str


# ------------------------------------------------------------------------------------ job state


class StatusDetail(_Wire):
    status: StageStatus = "NotStarted"
    creationTime: datetime | None = None
    lastModifiedTime: datetime | None = None


class StatusDetails(_Wire):
    validationDetails: StatusDetail = Field(default_factory=StatusDetail)
    dataProcessingDetails: StatusDetail = Field(default_factory=StatusDetail)
    trainingDetails: StatusDetail = Field(default_factory=StatusDetail)


class TrainingMetrics(_Wire):
    trainingLoss: float | None = None


class ValidatorMetric(_Wire):
    validationLoss: float | None = None


class ModelCustomizationJob(_Wire):
    """``GetModelCustomizationJob``'s answer: the request as given plus the job's live state."""

    jobArn: str
    jobName: str
    outputModelName: str
    outputModelArn: str | None = None
    clientRequestToken: str | None = None
    roleArn: str
    status: JobStatus = "InProgress"
    statusDetails: StatusDetails = Field(default_factory=StatusDetails)
    failureMessage: str | None = None
    creationTime: datetime
    lastModifiedTime: datetime | None = None
    endTime: datetime | None = None
    baseModelArn: str
    hyperParameters: dict[str, str] = Field(default_factory=dict)
    trainingDataConfig: TrainingDataConfig
    validationDataConfig: ValidationDataConfig | None = None
    outputDataConfig: OutputDataConfig
    customizationType: CustomizationType
    outputModelKmsKeyArn: str | None = None
    trainingMetrics: TrainingMetrics | None = None
    validationMetrics: list[ValidatorMetric] | None = None
    vpcConfig: VpcConfig | None = None
    customizationConfig: CustomizationConfig | None = None


class ModelCustomizationJobSummary(_Wire):
    jobArn: str
    baseModelArn: str
    jobName: str
    status: JobStatus
    statusDetails: StatusDetails | None = None
    lastModifiedTime: datetime | None = None
    creationTime: datetime
    endTime: datetime | None = None
    customModelArn: str | None = None
    customModelName: str | None = None
    customizationType: CustomizationType


class ListModelCustomizationJobsRequest(_Wire):
    """Query parameters of ``GET /model-customization-jobs``."""

    creationTimeAfter: datetime | None = None
    creationTimeBefore: datetime | None = None
    statusEquals: JobStatus | None = None
    nameContains: str | None = Field(default=None, min_length=1, max_length=63)
    maxResults: int = Field(default=100, ge=1, le=1000)
    nextToken: str | None = None
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"


class ListModelCustomizationJobsResponse(_Wire):
    nextToken: str | None = None
    modelCustomizationJobSummaries: list[ModelCustomizationJobSummary]


# ------------------------------------------------------------------------------------ custom models


class CustomModel(_Wire):
    """``GetCustomModel``'s answer. ``modelStatus`` is Active once the job registered it."""

    modelArn: str
    modelName: str
    jobName: str | None = None
    jobArn: str | None = None
    baseModelArn: str
    customizationType: CustomizationType
    modelKmsKeyArn: str | None = None
    hyperParameters: dict[str, str] = Field(default_factory=dict)
    trainingDataConfig: TrainingDataConfig | None = None
    validationDataConfig: ValidationDataConfig | None = None
    outputDataConfig: OutputDataConfig | None = None
    trainingMetrics: TrainingMetrics | None = None
    validationMetrics: list[ValidatorMetric] | None = None
    creationTime: datetime
    customizationConfig: CustomizationConfig | None = None
    modelStatus: ModelStatus = "Active"
    failureMessage: str | None = None


class CustomModelSummary(_Wire):
    modelArn: str
    modelName: str
    creationTime: datetime
    baseModelArn: str
    baseModelName: str
    customizationType: CustomizationType
    ownerAccountId: str | None = None
    modelStatus: ModelStatus = "Active"


class ListCustomModelsRequest(_Wire):
    creationTimeBefore: datetime | None = None
    creationTimeAfter: datetime | None = None
    nameContains: str | None = Field(default=None, min_length=1, max_length=63)
    baseModelArnEquals: str | None = None
    foundationModelArnEquals: str | None = None
    maxResults: int = Field(default=100, ge=1, le=1000)
    nextToken: str | None = None
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"
    isOwned: bool | None = None
    modelStatus: ModelStatus | None = None


class ListCustomModelsResponse(_Wire):
    nextToken: str | None = None
    modelSummaries: list[CustomModelSummary]


# ------------------------------------------------------------------------------------- deployments


class CreateCustomModelDeploymentRequest(_Wire):
    """The body of ``POST /model-customization/custom-model-deployments``."""

    modelDeploymentName: str = Field(min_length=1, max_length=63, pattern=NAME_PATTERN)
    modelArn: str = Field(min_length=1)
    description: str | None = Field(default=None, max_length=200)
    tags: list[Tag] | None = None
    clientRequestToken: str | None = Field(default=None, min_length=1, max_length=256)


class CreateCustomModelDeploymentResponse(_Wire):
    customModelDeploymentArn: str


class CustomModelDeployment(_Wire):
    """``GetCustomModelDeployment``'s answer."""

    customModelDeploymentArn: str
    modelDeploymentName: str
    modelArn: str
    createdAt: datetime
    status: DeploymentStatus = "Creating"
    description: str | None = None
    failureMessage: str | None = None
    lastUpdatedAt: datetime | None = None


class CustomModelDeploymentSummary(_Wire):
    customModelDeploymentArn: str
    customModelDeploymentName: str
    modelArn: str
    createdAt: datetime
    status: DeploymentStatus
    lastUpdatedAt: datetime | None = None
    failureMessage: str | None = None


class ListCustomModelDeploymentsRequest(_Wire):
    createdBefore: datetime | None = None
    createdAfter: datetime | None = None
    nameContains: str | None = Field(default=None, min_length=1, max_length=63)
    maxResults: int = Field(default=100, ge=1, le=1000)
    nextToken: str | None = None
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"
    statusEquals: DeploymentStatus | None = None
    modelArnEquals: str | None = None


class ListCustomModelDeploymentsResponse(_Wire):
    nextToken: str | None = None
    modelDeploymentSummaries: list[CustomModelDeploymentSummary]


def parse_wire(model: type[W], data: W | dict[str, Any]) -> W:
    """Validate a wire document, raising one :class:`InvalidInputError` that names the field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInputError(
            error_text(first), field=".".join(str(p) for p in first["loc"]) or None
        ) from exc
