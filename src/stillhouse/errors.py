"""Typed errors raised by the core and translated once at each edge.

Each error carries the Bedrock exception name (``code``) and the HTTP status the server answers with,
so the CLI, the Bedrock-shaped API and the OpenAI-shaped API each translate it in one place.
"""

from __future__ import annotations


class StillhouseError(Exception):
    """Base of every error stillhouse raises on purpose."""

    code = "InternalServerException"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInputError(StillhouseError):
    """The caller gave something malformed: a bad field, file line, flag or hyperparameter."""

    code = "ValidationException"
    http_status = 400


class DatasetError(InvalidInputError):
    """A dataset is unusable as a whole (too few valid records, too many, unreadable)."""


class OutputPathError(InvalidInputError):
    """An output location cannot be written: under a file, read-only, no permission."""


class NotFoundError(StillhouseError):
    """A named resource (job, model, deployment, object, file) does not exist."""

    code = "ResourceNotFoundException"
    http_status = 404


class ConflictError(StillhouseError):
    """The request clashes with the current state (duplicate name, job already stopped)."""

    code = "ConflictException"
    http_status = 409


class AccessDeniedError(StillhouseError):
    """Missing, wrong or malformed credentials."""

    code = "AccessDeniedException"
    http_status = 403


class InvalidSignatureError(AccessDeniedError):
    """A SigV4 signature that does not match, or is outside the clock-skew window (AWS's name)."""

    code = "InvalidSignatureException"


class UnrecognizedClientError(AccessDeniedError):
    """A SigV4 request whose access key id the server does not know (AWS's name for it)."""

    code = "UnrecognizedClientException"


class IncompleteSignatureError(AccessDeniedError):
    """A SigV4 Authorization header AWS cannot read: a missing part, a pair without '=', another
    algorithm, a credential without its five parts, a date not in ISO-8601 basic format (AWS's
    name; Bedrock answers it with 400)."""

    code = "IncompleteSignatureException"
    http_status = 400


class MissingAuthenticationTokenError(AccessDeniedError):
    """A request to the Bedrock API that is not signed at all (AWS's name for it)."""

    code = "MissingAuthenticationTokenException"


class InvalidApiKeyError(AccessDeniedError):
    """A wrong bearer key on the OpenAI API (OpenAI answers 401, code ``invalid_api_key``)."""

    http_status = 401


class MissingApiKeyError(InvalidApiKeyError):
    """No bearer key on the OpenAI API at all (OpenAI answers 401 with code null)."""


class ThrottledError(StillhouseError):
    """Too many requests; retry later."""

    code = "ThrottlingException"
    http_status = 429


class ServiceUnavailableError(StillhouseError):
    """A dependency is temporarily unavailable (a model still loading, a remote 5xx)."""

    code = "ServiceUnavailableException"
    http_status = 503


class ModelError(StillhouseError):
    """A model backend failed to produce an answer."""

    code = "ModelErrorException"
    http_status = 424


class ModelTimeoutError(ModelError):
    """A model backend did not answer in time."""

    code = "ModelTimeoutException"
    http_status = 408


class ModelNotReadyError(StillhouseError):
    """A model exists but is not usable yet (deployment creating, weights not pulled)."""

    code = "ModelNotReadyException"
    http_status = 429


class CorruptModelError(StillhouseError):
    """A model file is truncated, partial or fails its checksum."""

    code = "ValidationException"
    http_status = 400


class MissingDependencyError(StillhouseError):
    """An optional extra (torch, llama-cpp-python, ...) is needed but not installed."""

    code = "ValidationException"
    http_status = 400


class JobStoppedError(StillhouseError):
    """A running job was asked to stop; long loops raise this at a safe point."""

    code = "ConflictException"
    http_status = 409


class S3Error(StillhouseError):
    """An S3 API refusal in S3's own terms: its error code (``NoSuchKey``, ``BucketNotEmpty``, ...),
    its HTTP status and the bucket or key it concerns (S3 names them in the XML error body)."""

    def __init__(self, code: str, message: str, status: int, *, resource: str | None = None) -> None:
        super().__init__(message)
        self.code = code  # type: ignore[misc]  # per instance: S3 has dozens of codes
        self.http_status = status  # type: ignore[misc]
        self.resource = resource


# Errors worth retrying with backoff when talking to a model.
RETRYABLE = (ModelTimeoutError, ThrottledError, ServiceUnavailableError)
