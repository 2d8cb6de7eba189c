"""Rendering, assistant-only label masking, length policy and batch planning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.records.schema import ConversationRecord
from stillhouse.train.data import (
    IGNORE_INDEX,
    Example,
    assistant_spans,
    encode_records,
    fit_length,
    mask_labels,
    padded_size,
    plan_batches,
    training_records,
)

from .router_records import router_records, write_jsonl


def _render(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    text = "".join(f"<{m['role']}>{m['content']}</s>" for m in messages)
    return text + ("<assistant>" if add_generation_prompt else "")


def test_assistant_spans_cover_answers_and_end_marker_only() -> None:
    chat = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    text, spans = assistant_spans(chat, _render)
    assert [text[a:b] for a, b in spans] == ["a1</s>", "a2</s>"]


def test_template_that_rewrites_history_is_refused() -> None:
    def render(messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
        # Drops earlier assistant turns once a later one exists (like some "thinking" templates).
        return _render(messages, add_generation_prompt).replace(
            "a1</s>", "" if len(messages) > 3 else "a1</s>"
        )

    chat = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2"},
    ]
    with pytest.raises(InvalidInputError, match="incrementally"):
        assistant_spans(chat, render)


def test_mask_labels_keeps_tokens_that_start_inside_a_span() -> None:
    ids = [10, 11, 12, 13, 14, 15]
    offsets = [(0, 3), (3, 5), (5, 8), (8, 9), (9, 9), (9, 12)]
    # span 5..9: tokens 12 and 13 start inside; the empty-offset token 14 never counts.
    assert mask_labels(ids, offsets, [(5, 9)]) == [
        IGNORE_INDEX,
        IGNORE_INDEX,
        12,
        13,
        IGNORE_INDEX,
        IGNORE_INDEX,
    ]
    assert mask_labels(ids, offsets, []) == [IGNORE_INDEX] * 6


def test_fit_length_policies() -> None:
    example = Example([1, 2, 3, 4, 5], [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, 4, 5])
    assert fit_length(example, 5, "error") is example
    assert fit_length(example, 4, "drop") is None
    assert fit_length(example, 4, "truncate") == Example([1, 2, 3, 4], [IGNORE_INDEX] * 3 + [4])
    assert fit_length(example, 3, "truncate") is None  # nothing left to learn


def test_per_token_inputs_are_cut_and_padded_with_the_ids() -> None:
    """A vision student's per-token inputs (Qwen2-VL's image-token marks) follow the ids."""
    from stillhouse.train.data import collate

    marks = {"mm_token_type_ids": [0, 1, 1, 0, 0]}
    example = Example([1, 2, 3, 4, 5], [IGNORE_INDEX] * 3 + [4, 5], token_extras=marks)
    cut = fit_length(example, 4, "truncate")
    assert cut is not None and cut.token_extras == {"mm_token_type_ids": [0, 1, 1, 0]}
    short = Example([7, 8], [IGNORE_INDEX, 8], token_extras={"mm_token_type_ids": [1, 0]})
    batch = collate([cut, short], pad_id=9)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4], [7, 8, 9, 9]]
    assert batch["extras"]["mm_token_type_ids"].tolist() == [[0, 1, 1, 0], [1, 0, 0, 0]]


def test_plan_batches_is_deterministic_and_covers_every_example() -> None:
    lengths = [5 + (i * 37) % 90 for i in range(100)]
    plan = plan_batches(lengths, 4, seed=7, epoch=0)
    assert plan == plan_batches(lengths, 4, seed=7, epoch=0)
    assert plan != plan_batches(lengths, 4, seed=7, epoch=1)
    assert sorted(i for batch in plan for i in batch) == list(range(100))
    assert all(len(batch) <= 4 for batch in plan)


def test_bucketing_pads_much_less_than_random_batches() -> None:
    lengths = [5 + (i * 37) % 90 for i in range(400)]
    bucketed = padded_size(lengths, plan_batches(lengths, 8, seed=0, epoch=0))
    naive = padded_size(lengths, plan_batches(lengths, 8, seed=0, epoch=0, batching="random"))
    assert sum(lengths) <= bucketed < 0.8 * naive


def test_training_records_accepts_labelled_router_records(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", router_records(8))
    records = training_records(path)
    assert len(records) == 8 and all(r.is_labelled for r in records)


def test_training_records_refuses_unlabelled_records_with_their_line(tmp_path: Path) -> None:
    records = router_records(9)
    records[4]["messages"] = records[4]["messages"][:1]  # prompt only: not a training pair
    with pytest.raises(DatasetError, match="line 5"):
        training_records(write_jsonl(tmp_path / "bad.jsonl", records))


@pytest.mark.parametrize("content", ["", "not json\n"])
def test_training_records_refuses_empty_or_invalid_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError):
        training_records(path)


def test_training_records_refuses_too_few_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="at least 8"):
        training_records(write_jsonl(tmp_path / "few.jsonl", router_records(3)))
    with pytest.raises(InvalidInputError, match="does not exist"):
        training_records(tmp_path / "nope.jsonl")
    # A validation set may be small.
    assert (
        len(training_records(write_jsonl(tmp_path / "val.jsonl", router_records(2)), what="validation data"))
        == 2
    )


@pytest.mark.model
def test_labels_are_exactly_the_answer_and_end_of_turn(tiny_student: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_student)
    raw = router_records(3, seed=5)
    records = [ConversationRecord.model_validate(r) for r in raw]
    encoded = encode_records(records, tokenizer, max_length=256, overflow="error")
    for example, record in zip(encoded.examples, raw, strict=True):
        kept = [t for t in example.labels if t != IGNORE_INDEX]
        answer = json.loads(record["messages"][-1]["content"][0]["text"])
        decoded = tokenizer.decode(kept)
        assert decoded.endswith("<|im_end|>")
        assert (
            tokenizer.decode(tokenizer(json.dumps(answer), add_special_tokens=False)["input_ids"]) in decoded
        )
        assert "Route" not in decoded and record["messages"][0]["content"][0]["text"] not in decoded
        # The prompt part (system + user + assistant header) is fully masked.
        first = next(i for i, t in enumerate(example.labels) if t != IGNORE_INDEX)
        assert tokenizer.decode(example.input_ids[:first]).endswith("<|im_start|> assistant")


@pytest.mark.model
def test_overlong_records_are_an_error_unless_asked(tiny_student: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_student)
    records = [ConversationRecord.model_validate(r) for r in router_records(6, seed=5)]
    lengths = encode_records(records, tokenizer, max_length=256, overflow="error").lengths
    cap = sorted(lengths)[3]
    too_long = sum(n > cap for n in lengths)
    with pytest.raises(DatasetError, match=f"{too_long} of 6 records are longer than max_length={cap}"):
        encode_records(records, tokenizer, max_length=cap, overflow="error")
    dropped = encode_records(records, tokenizer, max_length=cap, overflow="drop")
    assert (len(dropped.examples), dropped.dropped) == (6 - too_long, too_long)
    truncated = encode_records(records, tokenizer, max_length=cap, overflow="truncate")
    assert truncated.truncated == too_long and max(truncated.lengths) == cap
