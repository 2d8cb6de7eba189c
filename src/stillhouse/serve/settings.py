"""Server settings: where to listen, which credentials to accept, and the limits that protect it.

Credentials come from flags or the environment (``STILLHOUSE_ACCESS_KEY_ID``,
``STILLHOUSE_SECRET_ACCESS_KEY``, ``STILLHOUSE_API_KEY``); nothing here reads files or opens sockets.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from stillhouse.errors import InvalidInputError
from stillhouse.jobs import arns

ENV_ACCESS_KEY_ID = "STILLHOUSE_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "STILLHOUSE_SECRET_ACCESS_KEY"
ENV_API_KEY = "STILLHOUSE_API_KEY"
ENV_CALLER_ARN = "STILLHOUSE_CALLER_ARN"  # the IAM ARN sts:GetCallerIdentity answers


class ServerSettings(BaseModel):
    """Everything ``create_app`` needs to know. Secrets are ``SecretStr`` so they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    region: str = Field(default_factory=arns.region)
    account_id: str = Field(default_factory=arns.account, pattern=r"^\d{12}$")
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    api_key: SecretStr | None = None
    # SigV4: requests signed further than this from the server clock are refused (AWS uses 5 min).
    max_clock_skew_s: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Inference threads per deployed model; each holds its own model instance.
    workers: int = Field(default=1, ge=1, le=64)
    # Compute threads per replica (llama.cpp); None: the cores divided among the workers.
    model_threads: int | None = Field(default=None, ge=1, le=256)
    # Requests allowed to wait for a worker before the server answers ThrottlingException.
    max_queue: int = Field(default=1024, ge=1)
    max_tokens_default: int = Field(default=512, ge=1)
    invocation_log_uri: str = "s3://stillhouse-logs/invocation-logs"
    # Where each call's log record is fsynced before it answers (default $STILLHOUSE_HOME/serve/...).
    invocation_log_wal_dir: Path | None = None
    log_flush_records: int = Field(default=64, ge=1)
    log_flush_seconds: float = Field(default=5.0, gt=0)
    start_job_workers: bool = True
    # Who sts:GetCallerIdentity says the caller is: an IAM user ARN in account_id (default
    # arn:aws:iam::<account_id>:user/stillhouse) and a user id (default: the access key id).
    caller_arn: str | None = Field(default=None, pattern=r"^arn:aws[\w-]*:(iam|sts)::\d{12}:.+$")
    caller_user_id: str | None = None

    @model_validator(mode="after")
    def _key_pair(self) -> ServerSettings:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access key id and secret access key must be given together")
        return self

    @property
    def sigv4_enabled(self) -> bool:
        return self.access_key_id is not None

    @property
    def threads_per_worker(self) -> int:
        return self.model_threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def log_wal_dir(self) -> Path:
        """Where invocation-log records are made durable (``$STILLHOUSE_HOME/serve/...`` unless set)."""
        from stillhouse import paths

        return self.invocation_log_wal_dir or paths.home() / "serve" / "invocation-log-wal"

    @property
    def caller_identity(self) -> tuple[str, str, str]:
        """``(account, arn, user id)`` that sts:GetCallerIdentity answers."""
        arn = self.caller_arn or f"arn:aws:iam::{self.account_id}:user/stillhouse"
        return arn.split(":")[4], arn, self.caller_user_id or self.access_key_id or "stillhouse"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def settings_from_env(**overrides: object) -> ServerSettings:
    """Settings from flags (``overrides``, ``None`` meaning unset) falling back to the environment.

    Refuses to build settings with no credentials at all: an open model server is a mistake the
    user must not make by forgetting a flag.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    values.setdefault("access_key_id", os.environ.get(ENV_ACCESS_KEY_ID) or None)
    values.setdefault("secret_access_key", os.environ.get(ENV_SECRET_ACCESS_KEY) or None)
    values.setdefault("api_key", os.environ.get(ENV_API_KEY) or None)
    values.setdefault("caller_arn", os.environ.get(ENV_CALLER_ARN) or None)
    values = {k: v for k, v in values.items() if v is not None}
    if "access_key_id" not in values and "api_key" not in values:
        raise InvalidInputError(
            f"no credentials: pass --access-key-id/--secret-access-key (or {ENV_ACCESS_KEY_ID}/"
            f"{ENV_SECRET_ACCESS_KEY}) for the Bedrock API and/or --api-key ({ENV_API_KEY}) for /v1",
            field="credentials",
        )
    try:
        return ServerSettings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:  # one line naming the setting, e.g. "port: ... <= 65535"
        from stillhouse.serve.errors import describe_validation_error

        raise describe_validation_error(exc) from exc
