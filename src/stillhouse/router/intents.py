"""The synthesizer's design intents: a check on the teacher's labels and weak labels for the fast router.

Every synthesized query comes from a template written for one intent ("the sound of {sound}" is an
audio query), so the synthesizer knows what each query was written to test. The offline teacher often
routes against that: on the demo's first 120 teacher answers (seed 0) its dominant modality
contradicted the design intent of 25 of the 96 single-modality queries, and read by hand the template
was right in nearly every case ("lightning over the sea" → audio 0.70, "crickets" → metadata 0.75,
"volcano" → metadata 0.85). A student trained on those answers learns the mistakes.

Two uses (pure; the file helpers at the end do the reading and writing):

- :func:`verify_labels` drops a teacher answer whose dominant modality contradicts its query's design
  intent. Only single-modality intents are checked; mixed queries, golden pairs and queries with no
  known intent pass unchanged. Dropped answers are returned as :class:`Rejection` rows for the report.
- :func:`intent_prior` / :func:`weak_targets` give synthesized queries that nobody labelled a soft
  target: the mean of the verified labels (golden pairs and teacher answers) whose dominant modality
  is the query's intent. The fast router trains on these beside the labelled pairs; the intent decides
  only which mean a query gets, the numbers themselves come from the labels.

The intent is a property of the template, not a human label of the query, so it is a check (a
verifier), not ground truth: a contradiction means "one of the two is wrong", and on this teacher it
was nearly always the teacher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.records.jsonl import write_records
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.video_router.parse import parse_answer
from stillhouse.tasks.video_router.prompt import MODALITIES
from stillhouse.tasks.video_router.synth import SyntheticQuery, normalise_text
from stillhouse.tasks.video_router.weights import dominant, top_modalities, weights_of


class Rejection(BaseModel):
    """A teacher answer dropped because it contradicts its query's design intent."""

    model_config = ConfigDict(extra="forbid")

    query: str
    intent: str
    dominant: str
    answer: str


class Verification(BaseModel):
    """The outcome of :func:`verify_labels`: the records kept and the answers rejected."""

    model_config = ConfigDict(extra="forbid")

    kept: list[ConversationRecord]
    rejected: list[Rejection]
    checked: int

    def counts(self) -> dict[str, int]:
        """``{kept, rejected, checked}`` for summaries."""
        return {"kept": len(self.kept), "rejected": len(self.rejected), "checked": self.checked}


def write_intents(path: Path, queries: Iterable[SyntheticQuery]) -> int:
    """Write the synthesized queries with their design intents as JSONL; returns the count."""
    return _write_jsonl(path, queries)


def _write_jsonl(path: Path, rows: Iterable[BaseModel]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [row.model_dump_json() for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def read_intents(path: Path) -> list[SyntheticQuery]:
    """The queries :func:`write_intents` wrote (blank lines ignored)."""
    text = path.read_text(encoding="utf-8")
    return [SyntheticQuery.model_validate_json(line) for line in text.splitlines() if line.strip()]


def intent_index(queries: Iterable[SyntheticQuery]) -> dict[str, str]:
    """Normalised query text → design intent."""
    return {normalise_text(q.text): q.intent for q in queries}


def contradiction(intent: str | None, answer: str) -> str | None:
    """The answer's dominant modality when it contradicts a single-modality ``intent``, else ``None``.

    Near-ties count as agreeing (the intent only has to be among the answer's top modalities). An
    answer with no readable weights is not judged here: labelling already reported it.
    """
    if intent not in MODALITIES:
        return None
    parsed = parse_answer(answer, normalize=True)
    if parsed.value is None:
        return None
    weights = weights_of(parsed.value)
    return None if intent in top_modalities(weights) else dominant(weights)


def verify_labels(records: Sequence[ConversationRecord], intents: Mapping[str, str]) -> Verification:
    """Keep the labelled records whose answer agrees with their query's design intent."""
    kept: list[ConversationRecord] = []
    rejected: list[Rejection] = []
    checked = 0
    for record in records:
        query, answer = record.messages[0].text, record.messages[-1].text
        intent = intents.get(normalise_text(query))
        checked += intent in MODALITIES
        wrong = contradiction(intent, answer) if record.is_labelled else None
        if wrong is None:
            kept.append(record)
        else:
            rejected.append(Rejection(query=query, intent=str(intent), dominant=wrong, answer=answer))
    return Verification(kept=kept, rejected=rejected, checked=checked)


def intent_prior(targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per modality, the mean weight row of the labels it dominates (modalities with none are left out)."""
    rows = np.asarray(targets, dtype=np.float64)
    winners = rows.argmax(axis=1) if len(rows) else np.zeros(0, dtype=int)
    return {m: rows[winners == i].mean(axis=0) for i, m in enumerate(MODALITIES) if (winners == i).any()}


def weak_targets(
    queries: Sequence[SyntheticQuery], prior: Mapping[str, np.ndarray]
) -> tuple[list[str], np.ndarray]:
    """(texts, soft target rows) for the synthesized queries whose intent has a prior mean."""
    usable = [q for q in queries if q.intent in prior]
    rows = np.array([prior[q.intent] for q in usable]).reshape(len(usable), len(MODALITIES))
    return [q.text for q in usable], rows


def verify_label_file(source: Path, intents: Path | None, out: Path, rejected: Path) -> Verification:
    """Verify the labelled records in ``source`` against the ``intents`` file (``None``: keep every
    record); write the kept records to ``out`` and the rejected answers to ``rejected`` (JSONL)."""
    from stillhouse.sources.dataset import read_dataset

    index = intent_index(read_intents(intents)) if intents is not None else {}
    outcome = verify_labels(read_dataset(source, "none", "skip")[0], index)
    write_records(out, outcome.kept)
    _write_jsonl(rejected, outcome.rejected)
    return outcome
