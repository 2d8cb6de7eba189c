"""JSONL lines of ``bedrock-conversation-2024`` records: parsing one line (pure) and writing a file.

A line that is not a well-shaped record becomes a list of :class:`RecordProblem` (broken JSON, not
an object, wrong ``schemaVersion``, unknown or missing keys), never an exception. Reading a file,
a folder or an ``s3://`` location is :func:`stillhouse.sources.dataset.read_dataset`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stillhouse.outputs import atomic_file
from stillhouse.records.rules import RecordProblem
from stillhouse.records.schema import SCHEMA_VERSION, ConversationRecord

# pydantic error types -> the words a dataset author reads; others keep pydantic's message.
_REASONS = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "model_type": "must be an object",
}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('messages', 0, 'content', 2, 'image')`` -> ``messages[0].content[2].image``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "record"


def _reason(err: Any) -> tuple[str, str]:
    """A pydantic error as (rule, reason) in words a dataset author understands."""
    kind, msg = err["type"], err["msg"]
    if err["loc"] == ("schemaVersion",):
        return "schema-version", f"must be {SCHEMA_VERSION!r}, got {err.get('input')!r}"
    if kind == "value_error":
        return "schema", msg.removeprefix("Value error, ")
    return "schema", _REASONS.get(kind, msg)


GZIP_MAGIC = b"\x1f\x8b"
# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the latter without the former.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)


def _problem(line: int, reason: str, rule: str) -> list[RecordProblem]:
    return [RecordProblem(line=line, field="record", reason=reason, rule=rule)]


def _unreadable(raw: bytes | str, line: int) -> list[RecordProblem] | None:
    """The clear reason for the three inputs whose JSON error says nothing useful, or ``None``."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.startswith(GZIP_MAGIC):
        reason = (
            "the file is gzip-compressed, not JSON lines: gunzip it first (invocation logs, which "
            "are gzipped: stillhouse validate --invocation-logs)"
        )
        return _problem(line, reason, "gzip")
    text = data.decode("utf-8", "replace")
    surrogate = _LONE_SURROGATE.search(text)
    if surrogate:
        reason = (
            f"a lone UTF-16 surrogate {surrogate.group(0)!r} at offset {surrogate.start()}: half of "
            "an escaped pair (an emoji or other character outside the BMP split or truncated), not text"
        )
        return _problem(line, reason, "surrogate")
    return None


def parse_record(raw: bytes | str, line: int) -> ConversationRecord | list[RecordProblem]:
    """One JSONL line -> a record, or every shape problem found in it (pure; never raises)."""
    unreadable = _unreadable(raw, line)
    if unreadable is not None:
        return unreadable
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"line is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
            return [RecordProblem(line=line, field="record", reason=reason, rule="json")]
    try:
        return ConversationRecord.model_validate_json(raw)
    except ValidationError as exc:
        return _shape_problems(exc, line, cr_only="\r" in raw)


def _shape_problems(exc: ValidationError, line: int, *, cr_only: bool = False) -> list[RecordProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid" and cr_only:
            reason = (
                "the line holds carriage returns (CR-only line endings, as old Mac editors write): "
                "end each record with \\n (LF or CRLF)"
            )
            return _problem(line, reason, "line-endings")
        if err["type"] == "json_invalid":
            reason = "invalid JSON: " + err["msg"].removeprefix("Invalid JSON: ")
            return [RecordProblem(line=line, field="record", reason=reason, rule="json")]
        if err["type"] == "model_type" and err["loc"] == ():
            got = _JSON_TYPES.get(type(err.get("input")), "null")
            return [
                RecordProblem(
                    line=line, field="record", reason=f"expected a JSON object, got {got}", rule="json"
                )
            ]
        rule, reason = _reason(err)
        problems.append(RecordProblem(line=line, field=field_path(err["loc"]), reason=reason, rule=rule))
    return problems


def write_records(path: str | Path, records: Iterable[ConversationRecord]) -> int:
    """Write records as JSONL, streaming, atomically (a reader never sees half a file). Returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with atomic_file(path, "w", encoding="utf-8", newline="\n") as out:
        for record in records:
            out.write(record.to_json())
            out.write("\n")
            count += 1
    return count
