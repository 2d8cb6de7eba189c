"""Dataset validation (SPEC §1.3): keep every good record, report every bad line, judge the whole.

:func:`validate_path` streams a file, folder or ``s3://`` location once, returns the valid records
and a :class:`ValidationReport`. Nothing is dropped silently: each line is either returned as a
record or listed in ``report.invalid`` with its line, field path and reason. Blank lines are not
records; they are skipped and counted in ``report.blank_lines``.

Counting rules: ``max_records`` applies to every record read (valid or not), ``min_valid`` to the
valid ones; ``by_rule`` counts *records* that broke each rule (a record with two empty texts counts
once under ``empty-text``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.progress import progress_bar
from stillhouse.records.jsonl import parse_record
from stillhouse.records.rules import (
    PROFILES,
    Profile,
    ProfileName,
    RecordProblem,
    check_record,
    dataset_problems,
)
from stillhouse.records.schema import ConversationRecord
from stillhouse.sources.files import SourceLine, iter_source_lines
from stillhouse.sources.objectstore import ObjectStore

_PROGRESS_EVERY = 500  # records between progress bar refreshes; per-record updates cost more than a rule


class ValidationReport(BaseModel):
    """What a validation run found. ``model_dump`` is the ``--json`` output of ``stillhouse validate``."""

    model_config = ConfigDict(extra="forbid")

    source: str
    profile: ProfileName
    read: int
    valid: int
    invalid_records: int
    blank_lines: int
    invalid: list[RecordProblem]
    by_rule: dict[str, int]
    dataset_problems: list[str]
    usable: bool

    def summary(self) -> str:
        """One line: counts and the verdict."""
        text = f"{self.read} records read: {self.valid} valid, {self.invalid_records} invalid"
        if self.blank_lines:
            text += f" ({self.blank_lines} blank line(s) skipped)"
        verdict = "usable" if self.usable else "NOT usable: " + "; ".join(self.dataset_problems)
        return f"{text}; {self.profile} dataset {verdict}"

    def to_json(self) -> dict[str, object]:
        """The report as plain JSON types (problems without a file omit the key)."""
        return self.model_dump(mode="json", exclude_none=True)


def get_profile(name: str) -> Profile:
    """The limits of a profile by name, with an error that lists the choices."""
    try:
        return PROFILES[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown profile {name!r}; use one of {', '.join(PROFILES)}", field="profile"
        ) from None


def check_line(raw: bytes | str, line: int, profile: Profile) -> ConversationRecord | list[RecordProblem]:
    """One line through shape and rule checks: the record if it passes, else all its problems."""
    parsed = parse_record(raw, line)
    if isinstance(parsed, list):
        return parsed
    return check_record(parsed, line, profile) or parsed


class _Tally:
    """Running counts of one validation pass."""

    def __init__(self) -> None:
        self.records: list[ConversationRecord] = []
        self.problems: list[RecordProblem] = []
        self.by_rule: Counter[str] = Counter()
        self.read = self.blank = self.invalid = 0

    def add(self, item: SourceLine, profile: Profile) -> None:
        if item.raw is None:
            self.blank += 1
            return
        self.read += 1
        found = check_line(item.raw, item.line, profile)
        if isinstance(found, ConversationRecord):
            self.records.append(found)
            return
        if item.file is not None:
            found = [p.model_copy(update={"file": item.file}) for p in found]
        self.invalid += 1
        self.problems += found
        self.by_rule.update({p.rule for p in found})


def validate_lines(
    lines: Iterable[SourceLine],
    profile: str = "distillation",
    *,
    source: str = "-",
    show_progress: bool = False,
) -> tuple[list[ConversationRecord], ValidationReport]:
    """Validate a stream of raw lines; returns the valid records (in order) and the report."""
    limits = get_profile(profile)
    tally = _Tally()
    with progress_bar(f"validating {source}", None, disable=not show_progress) as (bar, task):
        for item in lines:
            tally.add(item, limits)
            if tally.read % _PROGRESS_EVERY == 0:
                bar.update(task, completed=tally.read, info=f"{tally.invalid} invalid")
        bar.update(task, completed=tally.read, info=f"{tally.invalid} invalid")
    whole = dataset_problems(tally.read, len(tally.records), limits)
    report = ValidationReport(
        source=source,
        profile=limits.name,
        read=tally.read,
        valid=len(tally.records),
        invalid_records=tally.invalid,
        blank_lines=tally.blank,
        invalid=tally.problems,
        by_rule=dict(sorted(tally.by_rule.items())),
        dataset_problems=whole,
        usable=not whole,
    )
    return tally.records, report


def validate_path(
    location: str | Path,
    profile: str = "distillation",
    *,
    store: ObjectStore | None = None,
    show_progress: bool = False,
) -> tuple[list[ConversationRecord], ValidationReport]:
    """Validate a JSONL file, a folder of ``*.jsonl`` files or an ``s3://`` file/prefix.

    Raises only when the source cannot be read at all (missing file, empty folder, bad profile);
    every per-line problem ends up in the report.
    """
    get_profile(profile)  # fail on a bad profile before touching the source
    lines = iter_source_lines(location, store)
    return validate_lines(lines, profile, source=str(location), show_progress=show_progress)


def require_usable(report: ValidationReport) -> None:
    """Raise :class:`DatasetError` (with the summary and the first problems) unless usable."""
    if report.usable:
        return
    first = "; ".join(str(p) for p in report.invalid[:3])
    detail = f" First problems: {first}" if first else ""
    raise DatasetError(f"{report.source}: {report.summary()}.{detail}", field="dataset")
