"""The teacher's stored distributions placed on the student's tokens, for the distillation losses.

A labelling run with ``LabelConfig.top_logprobs`` writes, next to its output, one
:class:`~stillhouse.chat.TokenDistribution` per answer (``<out>.distributions.jsonl``). Training
finds a record's distribution by its answer text, and gives each of the student's answer tokens the
teacher's distribution at the same character of the answer (:func:`align_offsets`): where both
tokenizations start a token there, both predict the next piece of the same text. With one tokenizer
that is every token; across tokenizers it is every shared boundary (the ULD loss needs nothing
more). Everything but :func:`read_distributions` and :func:`collate_teacher` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stillhouse.chat import TokenDistribution
from stillhouse.errors import DatasetError, InvalidInputError

TeacherRow = tuple[tuple[int, ...], tuple[float, ...]] | None
"""The teacher's (top ids, top log-probabilities) for one student answer token, or ``None``."""


def read_distributions(path: Path) -> dict[str, TokenDistribution]:
    """A distributions file as ``answer text -> distribution`` (one answer, one entry)."""
    if not Path(path).is_file():
        raise InvalidInputError(f"teacher distributions file {str(path)!r} does not exist", field="teacher")
    found: dict[str, TokenDistribution] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                dist = TokenDistribution.model_validate_json(line)
            except ValueError as exc:
                raise DatasetError(
                    f"line {number}: not a token distribution: {exc}", field="teacher"
                ) from exc
            found.setdefault(dist.text, dist)
    return found


def for_run(path: Path | None, method: str) -> dict[str, TokenDistribution] | None:
    """The distributions a run with ``distillationMethod=method`` trains on (``None`` for SFT)."""
    if method == "sft":
        return None
    if path is None:
        raise InvalidInputError(
            f"distillationMethod={method} needs the teacher's stored distributions (label with "
            "top_logprobs on, then pass its .distributions.jsonl)",
            field="teacher_distributions",
        )
    return read_distributions(path)


def align_offsets(student_starts: Sequence[int | None], teacher_starts: Sequence[int]) -> list[int | None]:
    """For each student token (its first character in the answer, ``None`` outside it), the teacher
    position that starts at the same character, or ``None`` where the teacher has no boundary."""
    where = {start: i for i, start in enumerate(teacher_starts)}
    return [None if start is None else where.get(start) for start in student_starts]


def teacher_rows(
    text: str,
    spans: Sequence[tuple[int, int]],
    offsets: Sequence[tuple[int, int]],
    labels: Sequence[int],
    dist: TokenDistribution | None,
    ignore: int,
) -> list[TeacherRow]:
    """One row per label token of a rendered record (in order): the teacher's distribution at it.

    ``dist`` is the teacher's distribution of the record's answer (the last assistant turn); with
    none, or an answer the template did not render verbatim, the record gets no teacher rows and
    trains on its SFT term only.
    """
    starts = [start for (start, _), label in zip(offsets, labels, strict=True) if label != ignore]
    if not spans or dist is None or not text.startswith(dist.text, spans[-1][0]):
        return [None] * len(starts)
    begin = spans[-1][0]
    relative = [s - begin if begin <= s < begin + len(dist.text) else None for s in starts]
    return [
        None if j is None else (dist.top_ids[j], dist.top_logprobs[j])
        for j in align_offsets(relative, dist.offsets)
    ]


def collate_teacher(rows: Sequence[TeacherRow]) -> dict[str, Any]:
    """``teacher_ids [N, k]``, ``teacher_logprobs [N, k]`` (``-inf`` padded) and ``teacher_mask [N]``
    for the N loss positions of a batch, in the loop's target order."""
    import torch

    k = max((len(row[0]) for row in rows if row is not None), default=1)
    ids = torch.zeros((len(rows), k), dtype=torch.long)
    logprobs = torch.full((len(rows), k), -torch.inf)
    mask = torch.zeros(len(rows), dtype=torch.bool)
    for n, row in enumerate(rows):
        if row is None or not row[0]:
            continue
        ids[n, : len(row[0])] = torch.tensor(row[0])
        logprobs[n, : len(row[1])] = torch.tensor(row[1])
        mask[n] = True
    return {"teacher_ids": ids, "teacher_logprobs": logprobs, "teacher_mask": mask}


def check_coverage(teacher: Sequence[Sequence[TeacherRow] | None]) -> None:
    """Refuse a distillation run in which no answer token has a teacher distribution (the data's
    answers are not the ones labelled, or a task's student format rewrote answers labelled with
    the teacher's own distributions): it would silently train as SFT."""
    if not any(row is not None for rows in teacher for row in rows or ()):
        raise DatasetError(
            "no answer in the training data matches the teacher's stored distributions (were the "
            "answers rewritten after labelling, e.g. into a task's student format? Label with "
            "distributions_for=student to have the teacher score them as rewritten)",
            field="teacher_distributions",
        )
