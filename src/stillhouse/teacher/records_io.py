"""Durable JSONL output for labelling: stable record ids, fsync'd appends, resume and failure entries.

The input is read by :func:`stillhouse.sources.dataset.read_dataset`; :func:`input_failures` turns
the lines it refused into failure entries.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from stillhouse.errors import InvalidInputError
from stillhouse.records.rules import RecordProblem
from stillhouse.records.schema import ConversationRecord


class Failure(BaseModel):
    """One line of the failure report: which input record, why, after how many requests."""

    model_config = ConfigDict(extra="forbid")

    line: int
    record_id: str
    reason: str
    attempts: int = 0


def prompt_hash(record: ConversationRecord) -> str:
    """sha256 of a record's prompt part (system + turns before a final answer), canonical JSON.

    A prompt-only input record and the labelled output record made from it hash the same, which is
    how a restarted run recognises what it already wrote.
    """
    prompt = ConversationRecord(system=record.system, messages=record.prompt_turns)
    canonical = json.dumps(prompt.model_dump(exclude_none=True), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def assign_ids(records: Sequence[ConversationRecord]) -> list[str]:
    """Stable ids: the prompt hash, with ``.2``, ``.3``… for repeats of the same prompt in order."""
    seen: dict[str, int] = {}
    ids = []
    for record in records:
        base = prompt_hash(record)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}.{seen[base]}")
    return ids


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that has no newline: a write torn by a crash; its answer is still cached."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def _finished_record(line: str, number: int, out_path: Path) -> ConversationRecord:
    """One line of an earlier run's output: a labelled record, or an error naming the line."""
    try:
        record = ConversationRecord.model_validate_json(line)
        problem = None if record.is_labelled else "a prompt without an answer"
    except ValidationError as exc:
        problem = f"{exc.error_count()} schema problems"
    if problem is not None:
        raise InvalidInputError(
            f"{out_path}:{number} is not a record written by a labelling run ({problem}); choose another --out",
            field="out",
        )
    return record


def done_ids(out_path: Path) -> set[str]:
    """Ids of the records an earlier (possibly killed) run already wrote to ``out_path``.

    Refuses a file that is not a labelling output (e.g. the prompts file itself), so a mistyped
    ``--out`` never makes prompts look answered.
    """
    if not out_path.exists():
        return set()
    _drop_torn_tail(out_path)
    with out_path.open(encoding="utf-8") as fh:
        records = [_finished_record(line, n, out_path) for n, line in enumerate(fh, start=1) if line.strip()]
    return set(assign_ids(records))


class JsonlAppender:
    """Appends one JSON document per line and makes each durable (flush + fsync) before returning."""

    def __init__(self, path: Path, *, truncate: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = path.open("w" if truncate else "a", encoding="utf-8")

    def write(self, line: str) -> None:
        self._fh.write(line.rstrip("\n") + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def input_failures(problems: Sequence[RecordProblem]) -> list[Failure]:
    """The input lines a read refused, one :class:`Failure` per line naming each field and reason."""
    by_line: dict[tuple[str | None, int], list[RecordProblem]] = {}
    for problem in problems:
        by_line.setdefault((problem.file, problem.line), []).append(problem)
    return [
        Failure(
            line=line,
            record_id="",
            reason="invalid record: " + "; ".join(f"{p.field}: {p.reason}" for p in found),
        )
        for (_, line), found in by_line.items()
    ]
