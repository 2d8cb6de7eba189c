"""THE reader of a record file: a JSONL file, a folder of them or an ``s3://`` location, read once
under a profile's rules with a stated policy for bad lines.

Every caller states its policy, and each gets the same report type
(:class:`~stillhouse.records.validate.ValidationReport`): what was read and kept, and why each bad
line was refused, with its file and line.

- ``on_bad="report"``: keep the good records, list the bad lines, judge the whole by the profile's
  size rules (``report.usable``); never raise for content. ``stillhouse validate``, a job's
  training data (then :func:`~stillhouse.records.validate.require_usable`), labelling.
- ``on_bad="refuse"``: raise :class:`DatasetError` naming the first problems when any line is bad,
  when ``sized`` and a size rule fails, or when nothing was kept. Training data (``sized``) and a
  training run's validation set (not ``sized``: a validation set may be small).
- ``on_bad="skip"``: keep the good records, list the bad lines, give no verdict on the whole (the
  size rules are not judged). Held-out sets and the files the pipeline wrote itself.

Profiles: ``distillation`` and ``fine-tuning`` (SPEC §1.3), and ``none``: the shape only; a
:class:`~stillhouse.records.rules.Profile` made ``for_student(id)`` adds the student's family rules
(single-turn prompts for Anthropic and Llama). Under a profile, a dataset over its ``max_bytes``
(1 GB) is refused before any line is read.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Literal, get_args

from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.progress import progress_bar
from stillhouse.records.rules import Profile, size_problem
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import Tally, ValidationReport, get_profile, refuse_unclean
from stillhouse.sources.files import iter_source_lines, source_size
from stillhouse.sources.objectstore import ObjectStore

OnBad = Literal["report", "refuse", "skip"]
_PROGRESS_EVERY = 500  # records between progress bar refreshes; per-record updates cost more than a rule


def read_dataset(
    location: str | Path,
    profile: str | Profile = "distillation",
    on_bad: OnBad = "report",
    *,
    sized: bool = True,
    limit: int | None = None,
    store: ObjectStore | None = None,
    show_progress: bool = False,
    what: str = "dataset",
) -> tuple[list[ConversationRecord], ValidationReport]:
    """The records of ``location`` (in order) and the report of the read.

    ``limit`` stops after that many records are kept; ``sized`` (``refuse`` only) says whether the
    size rules refuse too; ``what`` names the data in a refusal (its error field). Raises on its own only when the source cannot be read at all (missing file,
    empty folder) or an option is wrong, and under ``refuse`` as above.
    """
    limits = get_profile(profile)  # fail on a bad option before touching the source
    if on_bad not in get_args(OnBad):
        raise InvalidInputError(
            f"unknown policy {on_bad!r}; use one of {', '.join(get_args(OnBad))}", field="on_bad"
        )
    if limit is not None and limit < 1:
        raise InvalidInputError("limit must be at least 1", field="limit")
    too_big = size_problem(source_size(location, store), limits) if limits is not None else None
    if too_big:  # checked before the first line is read: Bedrock refuses such a dataset whole
        raise DatasetError(f"{location}: {too_big}", field=what)
    tally = Tally(limits)
    with (
        progress_bar(f"validating {location}", None, disable=not show_progress) as (bar, task),
        closing(iter_source_lines(location, store)) as lines,
    ):
        for item in lines:
            tally.add(item.line, item.raw, item.file)
            if tally.read % _PROGRESS_EVERY == 0:
                bar.update(task, completed=tally.read, info=f"{tally.invalid} invalid")
            if limit is not None and len(tally.records) >= limit:
                break
        bar.update(task, completed=tally.read, info=f"{tally.invalid} invalid")
    report = tally.report(str(location), judge=on_bad != "skip")
    if on_bad == "refuse":
        refuse_unclean(report, sized=sized, what=what)
    return tally.records, report
