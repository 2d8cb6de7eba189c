"""Invocation logs checked the way a customization job reads them (``stillhouse validate
--invocation-logs``): the job's reader (:mod:`stillhouse.sources.invocation_logs`) turns each log
line into a record, then the job's record rules (:mod:`stillhouse.records.rules`, under the profile
and student given) judge every record, so what passes here passes in the job.

The location is a log file, a folder of them (walked like an S3 prefix: Bedrock's
``AWSLogs/ACCOUNT/BedrockModelInvocationLogs/REGION/YYYY/MM/DD/HH/`` layout or the server's own), or
an ``s3://`` prefix in the object store.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import NotFoundError
from stillhouse.records.rules import Profile
from stillhouse.records.validate import Tally, ValidationReport, get_profile
from stillhouse.sources.invocation_logs import (
    InvocationLogsConfig,
    LogReadReport,
    iter_log_records,
    log_objects,
)
from stillhouse.sources.objectstore import ObjectStore, open_store

# The reader takes a job's config; for a local folder the location it names is not used.
_LOCAL_SOURCE = "s3://local/invocation-logs/"


class LogCheckReport(BaseModel):
    """What reading the logs found (``logs``) and how their records fare under the rules (``records``)."""

    model_config = ConfigDict(extra="forbid")

    logs: LogReadReport
    records: ValidationReport

    @property
    def usable(self) -> bool:
        return self.records.usable


def _objects(location: str | Path, store: ObjectStore | None) -> list[tuple[str, bytes]]:
    if isinstance(location, str) and location.startswith("s3://"):
        store = store or open_store()
        return [(uri, store.get_bytes(uri)) for uri in log_objects(store.list(location))]
    path = Path(location)
    if path.is_file():
        return [(path.name, path.read_bytes())]
    if not path.is_dir():
        raise NotFoundError(f"no such file or folder: {path}", field="path")
    names = {p.relative_to(path).as_posix(): p for p in path.rglob("*") if p.is_file()}
    return [(name, names[name].read_bytes()) for name in log_objects(names)]


def check_invocation_logs(
    location: str | Path,
    profile: str | Profile = "distillation",
    *,
    use_prompt_response: bool = False,
    store: ObjectStore | None = None,
) -> LogCheckReport:
    """Read the logs at ``location`` as a job with ``usePromptResponse`` would, and validate them."""
    objects = _objects(location, store)
    if not objects:
        raise NotFoundError(f"no invocation log objects (*.json.gz) under {location}", field="path")
    source = str(location) if str(location).startswith("s3://") else _LOCAL_SOURCE
    config = InvocationLogsConfig.model_validate(
        {"usePromptResponse": use_prompt_response, "invocationLogSource": {"s3Uri": source}}
    )
    logs = LogReadReport()
    tally = Tally(get_profile(profile))
    for name, number, record in iter_log_records(objects, config, teacher_model_id=None, report=logs):
        tally.add(number, record.to_json(), file=name)
    return LogCheckReport(logs=logs, records=tally.report(str(location)))
