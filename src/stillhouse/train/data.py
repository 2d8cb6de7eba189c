"""From labelled records to token batches: chat-template rendering, assistant-only labels, bucketing.

Rendering uses the student's own chat template. To find which characters the model must learn, each
assistant turn is located by rendering the conversation up to that turn with the generation prompt
and then with the answer: the answer span is the difference, so it includes the template's
end-of-turn marker (the model learns to stop) and never the system or user text. Labels are then
taken from the tokenizer's character offsets, which is robust to BPE merges at span edges.
Everything here except :func:`training_records`, :func:`encode_records` and :func:`collate` is pure.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stillhouse.chat import TokenDistribution
from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.records.schema import ConversationRecord, to_messages
from stillhouse.train.config import Batching, Overflow
from stillhouse.train.teacher_tokens import TeacherRow, collate_teacher, teacher_rows

IGNORE_INDEX = -100
# Bucketing sorts by length inside windows of this many batches, then shuffles the batches: the
# order stays random across windows while each batch holds records of similar length.
BUCKET_WINDOW_BATCHES = 32

ChatDicts = list[dict[str, str]]
Render = Callable[[ChatDicts, bool], str]
"""``render(messages, add_generation_prompt) -> text``, normally the tokenizer's chat template."""


@dataclass(frozen=True)
class Example:
    """One tokenized record: ``labels`` is ``input_ids`` with non-assistant tokens set to -100.

    ``teacher`` (distillation runs only) has one row per label token: the teacher's distribution
    there (:mod:`stillhouse.train.teacher_tokens`); ``extras`` are a vision student's other model
    inputs (``pixel_values``, ...), one row per image, and ``token_extras`` those with one value
    per token (``mm_token_type_ids``), cut and padded with ``input_ids``.
    """

    input_ids: list[int]
    labels: list[int]
    teacher: tuple[TeacherRow, ...] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    token_extras: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class EncodedSet:
    """A tokenized dataset and what had to be done to fit it into ``max_length``."""

    examples: list[Example] = field(default_factory=list)
    truncated: int = 0
    dropped: int = 0

    @property
    def lengths(self) -> list[int]:
        return [len(e.input_ids) for e in self.examples]


def training_records(
    path: Path, *, what: str = "training data", images: bool = False
) -> list[ConversationRecord]:
    """A fine-tuning JSONL file read under the ``refuse`` policy: any unusable line refuses it whole.

    Training silently on part of a file would hide a data problem, so every problem is reported
    (the first few with their line numbers) and nothing trains. The dataset-size rules (8 to 20,000
    records) apply to training data, not to a validation set. Records with images are refused unless
    ``images`` (the student is a vision model).
    """
    from stillhouse.sources.dataset import read_dataset

    if not Path(path).exists():
        raise InvalidInputError(f"{what} file {str(path)!r} does not exist", field=what)
    records, _ = read_dataset(path, "fine-tuning", "refuse", sized=what == "training data", what=what)
    for number, record in enumerate(records, start=1):
        if not images and any(turn.images for turn in record.messages):
            raise DatasetError(
                f"record {number} has images; text students cannot train on them (use a vision-language "
                "student, a folder whose config.json has a vision_config)",
                field=what,
            )
    return records


def record_chat(record: ConversationRecord) -> ChatDicts:
    """The record as chat-template messages (system first, answer included)."""
    return [{"role": m.role, "content": m.content} for m in to_messages(record, include_answer=True)]


def assistant_spans(messages: ChatDicts, render: Render) -> tuple[str, list[tuple[int, int]]]:
    """The fully rendered text and the character spans of every assistant turn in it.

    Raises :class:`InvalidInputError` when the template does not render incrementally (a rendering
    of the first turns is not a prefix of the whole), since labels could not be placed reliably.
    """
    text = render(messages, False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(messages[:i], True)
        through = render(messages[: i + 1], False)
        if not (text.startswith(through) and through.startswith(before)):
            raise InvalidInputError(
                "the student's chat template does not render conversations incrementally; "
                "cannot locate the assistant tokens",
                field="student",
            )
        if len(through) > len(before):
            spans.append((len(before), len(through)))
    return text, spans


def mask_labels(
    input_ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> list[int]:
    """Labels for ``input_ids``: a token keeps its id when its first character lies in a span."""
    labels = []
    for token, (start, end) in zip(input_ids, offsets, strict=True):
        inside = end > start and any(lo <= start < hi for lo, hi in spans)
        labels.append(token if inside else IGNORE_INDEX)
    return labels


def fit_length(example: Example, max_length: int, overflow: Overflow) -> Example | None:
    """Apply the overflow policy to one example; ``None`` means drop it."""
    if len(example.input_ids) <= max_length:
        return example
    if overflow == "truncate":
        labels = example.labels[:max_length]
        kept = sum(label != IGNORE_INDEX for label in labels)
        teacher = example.teacher[:kept] if example.teacher is not None else None
        # Images precede the answer they are asked about, so a cut at the end keeps their tokens.
        per_token = {key: values[:max_length] for key, values in example.token_extras.items()}
        cut = replace(
            example,
            input_ids=example.input_ids[:max_length],
            labels=labels,
            teacher=teacher,
            token_extras=per_token,
        )
        return cut if kept else None
    return None


def encode_record(
    record: ConversationRecord,
    tokenizer: Any,
    render: Render,
    distributions: Mapping[str, TokenDistribution] | None = None,
) -> Example:
    """One record as token ids with assistant-only labels (no length limit applied); with
    ``distributions`` (answer text -> the teacher's), the teacher's rows on its label tokens."""
    text, spans = assistant_spans(record_chat(record), render)
    # The template already wrote every special token; the tokenizer must not add a BOS of its own.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    labels = mask_labels(enc["input_ids"], enc["offset_mapping"], spans)
    if distributions is None:
        return Example(list(enc["input_ids"]), labels)
    dist = distributions.get(record.answer or "")
    rows = teacher_rows(text, spans, enc["offset_mapping"], labels, dist, IGNORE_INDEX)
    return Example(list(enc["input_ids"]), labels, tuple(rows))


def encode_records(
    records: Sequence[ConversationRecord],
    tokenizer: Any,
    *,
    max_length: int,
    overflow: Overflow,
    what: str = "training data",
    distributions: Mapping[str, TokenDistribution] | None = None,
    encoder: Callable[[ConversationRecord], Example] | None = None,
) -> EncodedSet:
    """Tokenize records with assistant-only labels; enforce ``max_length`` by ``overflow``.

    With ``overflow="error"`` any record over the limit fails the whole set, saying how many are
    too long and which is longest, so a user can choose a limit or a policy knowingly. ``encoder``
    replaces the text encoding (a vision student's processor, :mod:`stillhouse.train.vision`);
    ``distributions`` (logit distillation) are placed on the text encoding's tokens only.
    """
    if encoder is not None and distributions is not None:
        raise InvalidInputError(
            "logit distillation (distillationMethod kd/uld) takes text students only; train a "
            "vision-language student with distillationMethod=sft",
            field="distillationMethod",
        )
    if encoder is None:
        render = chat_renderer(tokenizer)
        encoder = lambda record: encode_record(record, tokenizer, render, distributions)  # noqa: E731
    encoded, too_long = EncodedSet(), []
    for number, record in enumerate(records, start=1):
        example = encoder(record)
        if len(example.input_ids) > max_length:
            too_long.append((number, len(example.input_ids)))
        fitted = fit_length(example, max_length, overflow)
        if fitted is None:
            encoded.dropped += 1
        else:
            encoded.truncated += fitted is not example
            encoded.examples.append(fitted)
    if too_long and overflow == "error":
        number, longest = max(too_long, key=lambda item: item[1])
        raise DatasetError(
            f"{len(too_long)} of {len(records)} records are longer than max_length={max_length} tokens "
            f"(longest: record {number}, {longest} tokens); raise max_length, or set overflow to "
            "'truncate' or 'drop'",
            field=what,
        )
    if not encoded.examples:
        raise DatasetError("no record is left to train on after fitting max_length", field=what)
    return encoded


def chat_renderer(tokenizer: Any) -> Render:
    """``render(messages, add_generation_prompt)`` through the tokenizer's own chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidInputError("the student's tokenizer has no chat template", field="student")

    def render(messages: ChatDicts, add_generation_prompt: bool) -> str:
        if not messages:
            return ""
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )

    return render


def plan_batches(
    lengths: Sequence[int], batch_size: int, *, seed: int, epoch: int, batching: Batching = "bucketed"
) -> list[list[int]]:
    """The batches of one epoch as lists of example indices, deterministic in ``(seed, epoch)``."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if batching == "random":
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    window = batch_size * BUCKET_WINDOW_BATCHES
    batches: list[list[int]] = []
    for w in range(0, len(order), window):
        chunk = sorted(order[w : w + window], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def padded_size(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> int:
    """Tokens a plan feeds the model once each batch is padded to its longest member."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def predicted_tokens(example: Example) -> int:
    """Positions of ``example`` that carry a loss: its label tokens but one at position 0 (which no
    position predicts); what :func:`collate`'s ``targets`` holds for it."""
    return sum(label != IGNORE_INDEX for label in example.labels[1:])


def collate(examples: Sequence[Example], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch to its longest example and mark where the loss is taken.

    Padding is masked out of attention and labels. ``loss_mask[b, t]`` is true when token ``t + 1``
    is an assistant token, so position ``t`` is trained to predict ``targets`` (in mask order).
    """
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    loss_mask = torch.zeros_like(labels, dtype=torch.bool)
    loss_mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    # Image inputs hold one row per image, so a batch's are its examples' rows in order.
    extras = {key: torch.cat([e.extras[key] for e in examples]) for key in examples[0].extras}
    for key in examples[0].token_extras:
        extras[key] = torch.zeros((len(examples), width), dtype=torch.long)
        for row, e in enumerate(examples):
            extras[key][row, : len(e.input_ids)] = torch.tensor(e.token_extras[key])
    batch = {
        "extras": extras,
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "loss_mask": loss_mask,
        "targets": labels[:, 1:][loss_mask[:, :-1]],
    }
    if any(e.teacher is not None for e in examples):
        batch.update(collate_teacher([row for e in examples for row in _predicted_rows(e)]))
    return batch


def _predicted_rows(example: Example) -> list[TeacherRow]:
    """The teacher rows of the label tokens some position predicts (a label at position 0 has none)."""
    rows = list(example.teacher or [None] * sum(label != IGNORE_INDEX for label in example.labels))
    return rows[1:] if example.labels and example.labels[0] != IGNORE_INDEX else rows
