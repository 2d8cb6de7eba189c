"""Wire models of Bedrock's batch inference control plane (``CreateModelInvocationJob`` and friends).

Field names, patterns and limits are botocore's (``bedrock`` service-2.json). Requests refuse unknown
keys; responses are serialised with ``model_dump(mode="json", exclude_none=True)``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.jobs.schema import SortOrder, Tag, VpcConfig

InvocationJobStatus = Literal[
    "Submitted",
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "PartiallyCompleted",
    "Expired",
    "Validating",
    "Scheduled",
]
InvocationType = Literal["InvokeModel", "Converse"]
JOB_NAME = r"^[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}$"
TOKEN = r"^[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}$"
ROLE_ARN = r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$"
S3_URI = r"^s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?$"
ACCOUNT = r"^[0-9]{12}$"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class S3InputDataConfig(_Wire):
    s3Uri: str = Field(min_length=1, max_length=1024, pattern=S3_URI)
    s3InputFormat: Literal["JSONL"] | None = None
    s3BucketOwner: str | None = Field(default=None, pattern=ACCOUNT)


class InputDataConfig(_Wire):
    s3InputDataConfig: S3InputDataConfig


class S3OutputDataConfig(_Wire):
    s3Uri: str = Field(min_length=1, max_length=1024, pattern=S3_URI)
    s3EncryptionKeyId: str | None = Field(default=None, min_length=1, max_length=2048)
    s3BucketOwner: str | None = Field(default=None, pattern=ACCOUNT)


class OutputDataConfig(_Wire):
    s3OutputDataConfig: S3OutputDataConfig


class CreateModelInvocationJobRequest(_Wire):
    """The body of ``POST /model-invocation-job``."""

    jobName: str = Field(min_length=1, max_length=63, pattern=JOB_NAME)
    roleArn: str = Field(max_length=2048, pattern=ROLE_ARN)  # accepted, unused: no IAM here
    clientRequestToken: str | None = Field(default=None, min_length=1, max_length=256, pattern=TOKEN)
    modelId: str = Field(min_length=1, max_length=2048)
    inputDataConfig: InputDataConfig
    outputDataConfig: OutputDataConfig
    vpcConfig: VpcConfig | None = None
    timeoutDurationInHours: int | None = Field(default=None, ge=24, le=168)
    tags: list[Tag] | None = Field(default=None, max_length=200)
    modelInvocationType: InvocationType | None = None


class CreateModelInvocationJobResponse(_Wire):
    jobArn: str


class ModelInvocationJob(_Wire):
    """``GetModelInvocationJob``'s answer (and, field for field, a ``ModelInvocationJobSummary``)."""

    jobArn: str
    jobName: str
    modelId: str
    clientRequestToken: str | None = None
    roleArn: str
    status: InvocationJobStatus = "Submitted"
    message: str | None = Field(default=None, max_length=2048)
    submitTime: datetime
    lastModifiedTime: datetime | None = None
    endTime: datetime | None = None
    inputDataConfig: InputDataConfig
    outputDataConfig: OutputDataConfig
    vpcConfig: VpcConfig | None = None
    timeoutDurationInHours: int | None = None
    jobExpirationTime: datetime | None = None
    modelInvocationType: InvocationType | None = None
    totalRecordCount: int | None = None
    processedRecordCount: int | None = None
    successRecordCount: int | None = None
    errorRecordCount: int | None = None


class ListModelInvocationJobsRequest(_Wire):
    """Query parameters of ``GET /model-invocation-jobs``."""

    submitTimeAfter: datetime | None = None
    submitTimeBefore: datetime | None = None
    statusEquals: InvocationJobStatus | None = None
    nameContains: str | None = Field(default=None, min_length=1, max_length=63, pattern=JOB_NAME)
    maxResults: int = Field(default=100, ge=1, le=1000)
    nextToken: str | None = Field(default=None, min_length=1, max_length=2048)
    sortBy: Literal["CreationTime"] = "CreationTime"
    sortOrder: SortOrder = "Descending"


class ListModelInvocationJobsResponse(_Wire):
    nextToken: str | None = None
    invocationJobSummaries: list[ModelInvocationJob]


class RecordCounts(_Wire):
    """What ``manifest.json.out`` reports (Bedrock's names) and the job's record counters."""

    totalRecordCount: int = 0
    processedRecordCount: int = 0
    successRecordCount: int = 0
    errorRecordCount: int = 0
    inputTokenCount: int = 0
    outputTokenCount: int = 0
