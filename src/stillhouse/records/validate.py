"""Dataset validation (SPEC §1.3), pure: lines in, records and one report out; nothing here reads.

:class:`Tally` takes the raw lines of a source one at a time (the one dataset reader,
:func:`stillhouse.sources.dataset.read_dataset`, streams them) and keeps every good record and
every bad line's problems; :meth:`Tally.report` judges the whole. Nothing is dropped silently:
each line is either a record or listed in ``report.invalid`` with its line, field path and reason.
Blank lines are not records; they are counted in ``report.blank_lines``.

Counting rules: ``max_records`` applies to every record read (valid or not), ``min_valid`` to the
valid ones; ``by_rule`` counts *records* that broke each rule (a record with two empty texts counts
once under ``empty-text``).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stillhouse.errors import DatasetError, InvalidInputError
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

NO_PROFILE = "none"
"""Shape only: records as the pipeline wrote them (or a held-out set); no rule, no size limit."""


class ValidationReport(BaseModel):
    """What a read found. ``model_dump`` is the ``--json`` output of ``stillhouse validate``."""

    model_config = ConfigDict(extra="forbid")

    source: str
    profile: ProfileName | Literal["none"]
    read: int
    valid: int
    invalid_records: int
    blank_lines: int
    invalid: list[RecordProblem]
    by_rule: dict[str, int]
    dataset_problems: list[str]
    usable: bool
    # The line of each kept record (in its own file), for callers that point back at the input,
    # e.g. labelling's failure report. Not part of the JSON report.
    kept_lines: list[int] = Field(default_factory=list, exclude=True)

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


def get_profile(name: str | Profile) -> Profile | None:
    """The limits of a profile by name (``None`` for ``"none"``), with an error that lists the choices;
    a :class:`Profile` (one made :meth:`~Profile.for_student`) is returned as it is."""
    if isinstance(name, Profile):
        return name
    if name == NO_PROFILE:
        return None
    try:
        return PROFILES[name]
    except KeyError:
        choices = ", ".join([*PROFILES, NO_PROFILE])
        raise InvalidInputError(f"unknown profile {name!r}; use one of {choices}", field="profile") from None


def check_line(
    raw: bytes | str, line: int, profile: Profile | None
) -> ConversationRecord | list[RecordProblem]:
    """One line through shape and rule checks: the record if it passes, else all its problems."""
    parsed = parse_record(raw, line)
    if isinstance(parsed, list) or profile is None:
        return parsed
    return check_record(parsed, line, profile) or parsed


class Tally:
    """Running counts of one validation pass over a source's lines (pure: no I/O)."""

    def __init__(self, profile: Profile | None) -> None:
        self.profile = profile
        self.records: list[ConversationRecord] = []
        self.lines: list[int] = []
        self.problems: list[RecordProblem] = []
        self.by_rule: Counter[str] = Counter()
        self.read = self.blank = self.invalid = 0

    def add(self, line: int, raw: bytes | str | None, file: str | None = None) -> None:
        """One line of the source; ``raw`` is ``None`` for a blank line, ``file`` names it in a folder."""
        if raw is None:
            self.blank += 1
            return
        self.read += 1
        found = check_line(raw, line, self.profile)
        if isinstance(found, ConversationRecord):
            self.records.append(found)
            self.lines.append(line)
            return
        if file is not None:
            found = [p.model_copy(update={"file": file}) for p in found]
        self.invalid += 1
        self.problems += found
        self.by_rule.update({p.rule for p in found})

    def report(self, source: str, *, judge: bool = True) -> ValidationReport:
        """The report; ``judge=False`` gives no verdict on the whole (usable: a record was kept)."""
        limits = self.profile
        whole = dataset_problems(self.read, len(self.records), limits) if judge and limits else []
        return ValidationReport(
            source=source,
            profile=limits.name if limits else NO_PROFILE,
            read=self.read,
            valid=len(self.records),
            invalid_records=self.invalid,
            blank_lines=self.blank,
            invalid=self.problems,
            by_rule=dict(sorted(self.by_rule.items())),
            dataset_problems=whole,
            usable=not whole if judge and limits else bool(self.records),
            kept_lines=self.lines,
        )


def require_usable(report: ValidationReport) -> None:
    """Raise :class:`DatasetError` (with the summary and the first problems) unless usable."""
    if report.usable:
        return
    first = "; ".join(str(p) for p in report.invalid[:3])
    detail = f" First problems: {first}" if first else ""
    raise DatasetError(f"{report.source}: {report.summary()}.{detail}", field="dataset")


def require_records(report: ValidationReport, *, field: str) -> None:
    """Raise :class:`DatasetError` when no line of the source was a readable record."""
    if not report.valid:
        raise DatasetError(
            f"{report.source} holds no readable record ({report.invalid_records} bad lines)", field=field
        )


def require_at_most(report: ValidationReport, max_records: int | None = None) -> None:
    """Raise :class:`DatasetError` when more records were read than ``max_records`` (default: the
    profile's limit). Labelling takes a small prompt file; only an oversize one is refused."""
    limits = get_profile(report.profile)
    limit = max_records if max_records is not None else (limits.max_records if limits else None)
    if limit is not None and report.read > limit:
        raise DatasetError(
            f"{report.source} has more than {limit} records; {report.profile} takes at most {limit}",
            field="path",
        )


def refuse_unclean(report: ValidationReport, *, sized: bool, what: str) -> None:
    """Raise :class:`DatasetError` naming the first problems when any line is bad, when ``sized``
    and a size rule fails, or when no record was kept (the ``refuse`` policy)."""
    problems = [str(p) for p in report.invalid] + (report.dataset_problems if sized else [])
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise DatasetError(f"{report.source}: {report.summary()}. {shown}", field=what)
    if not report.valid:
        raise DatasetError(f"{report.source} holds no records", field=what)
