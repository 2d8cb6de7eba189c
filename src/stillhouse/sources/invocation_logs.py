"""Model invocation logs as a source of training records (SPEC §1.2).

The stillhouse server writes every runtime call as one gzipped JSON line in Bedrock's
``ModelInvocationLog`` shape under ``<prefix>/YYYY/MM/DD/HH/*.json.gz``, or, with a logging
configuration, where Bedrock does: ``<prefix>/AWSLogs/ACCOUNT/BedrockModelInvocationLogs/REGION/
YYYY/MM/DD/HH/*.json.gz`` (a job's source is then ``s3://BUCKET/PREFIX/AWSLogs``: every account and
region under it is read, in time order, and other objects under ``AWSLogs/`` are not logs). This module owns that record
type (the writer imports :class:`InvocationLogRecord`), the ``requestMetadataFilters`` grammar of
``CreateModelCustomizationJob``, and the reader that turns matching logs into
:class:`~stillhouse.records.schema.ConversationRecord` s.

Nothing is dropped silently: :class:`LogReadReport` counts what was kept, what the filters or the
teacher check excluded, and every unreadable line with its file and line number.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.sources.log_bodies import body_to_record, response_text  # noqa: F401  (re-exported)
from stillhouse.sources.objectstore import parse_s3_prefix

SCHEMA_TYPE = "ModelInvocationLog"
SCHEMA_VERSION = "1.0"
MAX_BASE_FILTERS = 16
# Bedrock's shape without its bucket-length rule (the local object store takes short bucket names).
_S3_URI = re.compile(r"^s3://[a-z0-9][\.\-a-z0-9]*(/.*)?$")


def _s3_uri(value: str) -> str:
    """Bedrock's pattern, then the object store's own key rule, so a request the store would refuse
    later (``..``, ``//``, ``./``, ``%2e``) is refused when it arrives."""
    if len(value) > 1024 or not _S3_URI.match(value):
        raise ValueError(f"{value!r} is not an S3 location; expected s3://bucket/key")
    try:
        parse_s3_prefix(value)
    except InvalidInputError as exc:
        raise ValueError(exc.message) from exc
    return value


S3Uri = Annotated[str, AfterValidator(_s3_uri)]
Operation = Literal[
    "Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream", "ChatCompletions"
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------- the record


class LogInput(_Wire):
    inputContentType: str = "application/json"
    inputBodyJson: Any = None
    inputTokenCount: int | None = None


class LogOutput(_Wire):
    outputContentType: str = "application/json"
    outputBodyJson: Any = None
    outputTokenCount: int | None = None


class LogIdentity(_Wire):
    arn: str


class InvocationLogRecord(_Wire):
    """One model invocation, as Bedrock's invocation logging writes it (one JSON line)."""

    schemaType: Literal["ModelInvocationLog"] = SCHEMA_TYPE
    schemaVersion: str = SCHEMA_VERSION
    timestamp: datetime
    accountId: str | None = None
    identity: LogIdentity | None = None
    region: str | None = None
    requestId: str
    operation: Operation
    modelId: str
    requestMetadata: dict[str, str] = Field(default_factory=dict)
    input: LogInput
    output: LogOutput | None = None
    errorCode: str | None = None
    inferenceRegion: str | None = None

    def to_json_line(self) -> str:
        """The record as the one JSON line the log files hold."""
        return self.model_dump_json(exclude_none=True)


# ------------------------------------------------------------------------------------- the filters


def _one_pair(value: dict[str, str] | None, name: str) -> dict[str, str] | None:
    if value is not None and len(value) != 1:
        raise ValueError(f"'{name}' takes exactly one key/value pair, got {len(value)}")
    return value


class RequestMetadataBaseFilters(_Wire):
    """A leaf filter: ``{"equals": {k: v}}`` and/or ``{"notEquals": {k: v}}``, one pair each."""

    equals: dict[str, str] | None = None
    notEquals: dict[str, str] | None = None

    @field_validator("equals", "notEquals")
    @classmethod
    def _single(cls, value: dict[str, str] | None, info: Any) -> dict[str, str] | None:
        return _one_pair(value, info.field_name)

    @model_validator(mode="after")
    def _non_empty(self) -> RequestMetadataBaseFilters:
        if self.equals is None and self.notEquals is None:
            raise ValueError("a base filter needs 'equals' or 'notEquals'")
        return self

    def matches(self, metadata: dict[str, str]) -> bool:
        """True when every condition given holds (a missing key is 'not equal')."""
        ok = True
        if self.equals:
            ((key, value),) = self.equals.items()
            ok = metadata.get(key) == value
        if self.notEquals:
            ((key, value),) = self.notEquals.items()
            ok = ok and metadata.get(key) != value
        return ok


class RequestMetadataFilters(_Wire):
    """Exactly one of ``equals``, ``notEquals``, ``andAll`` or ``orAll`` (1–16 base filters).

    Nesting is one level deep, as in Bedrock: ``andAll``/``orAll`` hold base filters only, so a
    nested ``andAll`` is refused by the model rather than guessed at.
    """

    equals: dict[str, str] | None = None
    notEquals: dict[str, str] | None = None
    andAll: list[RequestMetadataBaseFilters] | None = Field(
        default=None, min_length=1, max_length=MAX_BASE_FILTERS
    )
    orAll: list[RequestMetadataBaseFilters] | None = Field(
        default=None, min_length=1, max_length=MAX_BASE_FILTERS
    )

    @field_validator("equals", "notEquals")
    @classmethod
    def _single(cls, value: dict[str, str] | None, info: Any) -> dict[str, str] | None:
        return _one_pair(value, info.field_name)

    @model_validator(mode="after")
    def _exactly_one(self) -> RequestMetadataFilters:
        given = [
            name for name in ("equals", "notEquals", "andAll", "orAll") if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"requestMetadataFilters takes exactly one of equals, notEquals, andAll, orAll; got {given or 'none'}"
            )
        return self

    def matches(self, metadata: dict[str, str]) -> bool:
        """Whether a log's ``requestMetadata`` passes this filter."""
        if self.andAll is not None:
            return all(f.matches(metadata) for f in self.andAll)
        if self.orAll is not None:
            return any(f.matches(metadata) for f in self.orAll)
        return RequestMetadataBaseFilters(equals=self.equals, notEquals=self.notEquals).matches(metadata)


def error_text(error: Any) -> str:
    """Pydantic's message for one error, without its "Value error, " prefix."""
    return str(error["msg"]).removeprefix("Value error, ")


def parse_filters(raw: dict[str, Any]) -> RequestMetadataFilters:
    """Validate a filter document, turning pydantic's report into one clear :class:`InvalidInputError`."""
    try:
        return RequestMetadataFilters.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "requestMetadataFilters"
        raise InvalidInputError(
            error_text(first), field=f"requestMetadataFilters.{where}".rstrip(".")
        ) from exc


class InvocationLogSource(_Wire):
    s3Uri: S3Uri


class InvocationLogsConfig(_Wire):
    """``trainingDataConfig.invocationLogsConfig`` of a customization job."""

    usePromptResponse: bool = False
    invocationLogSource: InvocationLogSource
    requestMetadataFilters: RequestMetadataFilters | None = None


# -------------------------------------------------------------------------------------- the reader


class LogProblem(_Wire):
    """A log line that could not be used, and why."""

    file: str
    line: int
    reason: str


class LogReadReport(_Wire):
    """What reading a log prefix kept and what it left out, with reasons."""

    files: int = 0
    lines: int = 0
    kept: int = 0
    filtered_out: int = 0
    other_model: int = 0
    failed_calls: int = 0
    problems: list[LogProblem] = Field(default_factory=list)

    def summary(self) -> str:
        """One line: what was read, kept, and left out for which reason."""
        return (
            f"{self.lines} log records in {self.files} files: {self.kept} kept, {self.filtered_out} "
            f"filtered out by requestMetadataFilters, {self.other_model} from a model other than the "
            f"teacher, {self.failed_calls} failed calls, {len(self.problems)} unreadable"
        )


def iter_log_lines(name: str, data: bytes) -> Iterator[tuple[int, str]]:
    """Non-blank lines (1-based numbers) of one log object, gunzipped when it is gzip. An object that
    cannot be read whole (corrupt gzip, not UTF-8) is a ValueError saying which."""
    try:
        text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError) as exc:
        raise ValueError(f"not a readable gzip file ({exc})") from exc
    if name.endswith(".gz") and data[:2] != b"\x1f\x8b":
        raise ValueError("named .gz but not gzip-compressed (Bedrock writes gzipped JSON lines)")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})") from exc
    for number, line in enumerate(decoded.splitlines(), start=1):
        if line.strip():
            yield number, line


def is_log_key(key: str) -> bool:
    """Log objects are ``*.json.gz`` (plain ``*.json``/``*.jsonl`` are read too, for hand-made logs)."""
    return key.endswith((".json.gz", ".json", ".jsonl", ".jsonl.gz"))


_BEDROCK_LAYOUT = re.compile(
    r"(?:^|/)AWSLogs/\d{12}/BedrockModelInvocationLogs/[a-z0-9-]+/(\d{4}/\d{2}/\d{2}/\d{2})/[^/]+$"
)


def log_objects(uris: Iterable[str]) -> list[str]:
    """The log objects among ``uris`` in time order (pure). Under an ``AWSLogs/`` folder only
    Bedrock's layout counts (other AWS services and Bedrock's permission check write there too), and
    the hour folders order objects across accounts and regions."""
    keep = []
    for uri in uris:
        match = _BEDROCK_LAYOUT.search(uri)
        if is_log_key(uri) and (match or "AWSLogs/" not in uri):
            keep.append((match.group(1) if match else "", uri))
    return [uri for _, uri in sorted(keep)]


def records_from_logs(
    objects: Iterable[tuple[str, bytes]],
    config: InvocationLogsConfig,
    *,
    teacher_model_id: str | None,
) -> tuple[list[ConversationRecord], LogReadReport]:
    """Pure core of the reader: turn ``(name, bytes)`` log objects into records, with a report.

    ``usePromptResponse=False`` keeps the prompt only (the teacher re-answers). ``True`` keeps the
    logged answer and only counts logs whose ``modelId`` is ``teacher_model_id`` (any model when
    there is no teacher, as for a fine-tuning job).
    """
    report = LogReadReport()
    records = [
        r for _, _, r in iter_log_records(objects, config, teacher_model_id=teacher_model_id, report=report)
    ]
    return records, report


def iter_log_records(
    objects: Iterable[tuple[str, bytes]],
    config: InvocationLogsConfig,
    *,
    teacher_model_id: str | None,
    report: LogReadReport,
) -> Iterator[tuple[str, int, ConversationRecord]]:
    """``(object name, line, record)`` for each log line kept, counting the rest in ``report``."""
    for name, data in objects:
        report.files += 1
        try:
            lines = list(iter_log_lines(name, data))
        except ValueError as exc:  # an unreadable object never stops the others
            report.problems.append(LogProblem(file=name, line=0, reason=str(exc)))
            continue
        for number, line in lines:
            report.lines += 1
            try:
                record = _convert_line(line, config, teacher_model_id, report)
            except (ValueError, ValidationError) as exc:  # a bad line never stops the good ones
                report.problems.append(LogProblem(file=name, line=number, reason=_reason(exc)))
                continue
            if record is not None:
                report.kept += 1
                yield name, number, record


def _convert_line(
    line: str, config: InvocationLogsConfig, teacher: str | None, report: LogReadReport
) -> ConversationRecord | None:
    log = InvocationLogRecord.model_validate_json(line)
    filters = config.requestMetadataFilters
    if filters is not None and not filters.matches(log.requestMetadata):
        report.filtered_out += 1
        return None
    if config.usePromptResponse and teacher is not None and log.modelId != teacher:
        report.other_model += 1
        return None
    if config.usePromptResponse and (log.errorCode or log.output is None):
        report.failed_calls += 1
        return None
    answer_body = log.output.outputBodyJson if config.usePromptResponse and log.output else None
    return body_to_record(log.input.inputBodyJson, answer_body)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {error_text(first)}" if where else error_text(first)
    return str(exc)


def read_invocation_logs(
    config: InvocationLogsConfig, *, teacher_model_id: str | None, store: Any = None
) -> tuple[list[ConversationRecord], LogReadReport]:
    """Read every log object under ``invocationLogSource.s3Uri`` from the object store, in key order
    (which is time order, given the ``YYYY/MM/DD/HH`` layout)."""
    from stillhouse.sources.objectstore import open_store

    store = store or open_store()
    prefix = config.invocationLogSource.s3Uri
    parse_s3_prefix(prefix)  # a clear error for a malformed location before listing
    uris = log_objects(store.list(prefix))
    objects = ((uri, store.get_bytes(uri)) for uri in uris)
    return records_from_logs(objects, config, teacher_model_id=teacher_model_id)
