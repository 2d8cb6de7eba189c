"""``Put``/``Get``/``DeleteModelInvocationLoggingConfiguration``: where runtime calls are logged.

Without a configuration the server logs every call under ``--invocation-log-uri``. With an
``s3Config`` it logs where Bedrock does,
``s3://BUCKET/PREFIX/AWSLogs/ACCOUNT/BedrockModelInvocationLogs/REGION/YYYY/MM/DD/HH/*.json.gz``, so a
job's ``invocationLogSource.s3Uri`` of ``s3://BUCKET/PREFIX/AWSLogs`` reads them (the same writer and
write-ahead log; only the destination changes). Deleting the configuration goes back to the default
destination. The configuration is a JSON file beside the write-ahead folder, written atomically,
so it survives a restart. ``cloudWatchConfig`` is stored and returned; there is no CloudWatch here,
and the ``*DataDeliveryEnabled`` switches are stored but do not drop content from the records (a
distillation job needs the text).
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stillhouse.errors import InvalidInputError
from stillhouse.serve.context import ServeContext, authed, json_response, parse_json

if TYPE_CHECKING:
    from fastapi import APIRouter

PATH = "/logging/modelinvocations"
CONFIG_FILE = "model-invocation-logging.json"


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class S3Config(_Wire):
    bucketName: str = Field(min_length=3, max_length=63)
    keyPrefix: str | None = Field(default=None, max_length=1024)


class CloudWatchConfig(_Wire):
    logGroupName: str = Field(min_length=1, max_length=512)
    roleArn: str = Field(max_length=2048, pattern=r"^arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+$")
    largeDataDeliveryS3Config: S3Config | None = None


class LoggingConfig(_Wire):
    cloudWatchConfig: CloudWatchConfig | None = None
    s3Config: S3Config | None = None
    textDataDeliveryEnabled: bool | None = None
    imageDataDeliveryEnabled: bool | None = None
    embeddingDataDeliveryEnabled: bool | None = None
    videoDataDeliveryEnabled: bool | None = None
    audioDataDeliveryEnabled: bool | None = None

    @model_validator(mode="after")
    def _a_destination(self) -> "LoggingConfig":
        if self.cloudWatchConfig is None and self.s3Config is None:
            raise ValueError("loggingConfig needs an s3Config or a cloudWatchConfig")
        return self


class PutLoggingRequest(_Wire):
    loggingConfig: LoggingConfig


def destination(config: LoggingConfig | None, *, account: str, region: str) -> str | None:
    """Where Bedrock puts the logs of ``config`` (pure): ``s3://B/P/AWSLogs/A/BedrockModelInvocationLogs/R``,
    or ``None`` when it has no ``s3Config``."""
    if config is None or config.s3Config is None:
        return None
    s3 = config.s3Config
    parts = [s3.keyPrefix.strip("/")] if s3.keyPrefix and s3.keyPrefix.strip("/") else []
    key = "/".join([*parts, "AWSLogs", account, "BedrockModelInvocationLogs", region])
    return f"s3://{s3.bucketName}/{key}"


def config_path(ctx: ServeContext) -> Path:
    return ctx.settings.log_wal_dir.parent / CONFIG_FILE


def load_config(path: Path) -> LoggingConfig | None:
    """The stored configuration, or ``None`` when none was put (or it was deleted)."""
    if not path.is_file():
        return None
    return LoggingConfig.model_validate_json(path.read_text(encoding="utf-8"))


def apply(ctx: ServeContext, config: LoggingConfig | None) -> None:
    """Point the log writer at ``config``'s destination (the server's default without one)."""
    target = destination(config, account=ctx.settings.account_id, region=ctx.settings.region)
    ctx.logs.retarget(target or ctx.settings.invocation_log_uri)


def restore(ctx: ServeContext) -> None:
    """At start-up, before the writer starts: the configuration a previous run stored."""
    apply(ctx, load_config(config_path(ctx)))


def put_config(ctx: ServeContext, config: LoggingConfig) -> None:
    from stillhouse.outputs import atomic_file

    target = destination(config, account=ctx.settings.account_id, region=ctx.settings.region)
    if target is not None:  # the store's own key rules (a prefix with '..' is refused, nothing stored)
        from stillhouse.sources.objectstore import parse_s3_prefix

        try:
            parse_s3_prefix(target + "/")
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, field="loggingConfig.s3Config") from exc
    path = config_path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, encoding="utf-8") as handle:
        handle.write(config.model_dump_json(exclude_none=True))
    apply(ctx, config)


def delete_config(ctx: ServeContext) -> None:
    config_path(ctx).unlink(missing_ok=True)
    apply(ctx, None)


def router() -> "APIRouter":
    from asyncio import to_thread

    from fastapi import APIRouter, Request
    from fastapi.responses import JSONResponse

    r = APIRouter(tags=["bedrock"])

    # Nested so that fastapi is imported only when an app is built (annotations evaluated here).
    @r.put(PATH)
    async def put_logging(request: Request) -> JSONResponse:
        ctx, body = await authed(request)
        req = parse_json(PutLoggingRequest, body)
        await to_thread(put_config, ctx, req.loggingConfig)
        return json_response(None)

    @r.get(PATH)
    async def get_logging(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        config = await to_thread(load_config, config_path(ctx))
        out: dict[str, Any] = (
            {} if config is None else {"loggingConfig": json.loads(config.model_dump_json(exclude_none=True))}
        )
        return JSONResponse(out)

    @r.delete(PATH)
    async def delete_logging(request: Request) -> JSONResponse:
        ctx, _ = await authed(request)
        await to_thread(delete_config, ctx)
        return json_response(None)

    return r
