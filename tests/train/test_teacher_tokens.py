"""The teacher's stored distributions placed on the student's tokens: alignment, rows, collation."""

from __future__ import annotations

from pathlib import Path

import pytest

from stillhouse.chat import TokenDistribution
from stillhouse.errors import DatasetError, InvalidInputError
from stillhouse.train.data import IGNORE_INDEX, Example, collate, encode_record, fit_length
from stillhouse.train.teacher_tokens import align_offsets, read_distributions, teacher_rows

ANSWER = "route to audio"


def _tokenizer(pattern: str):
    """A word-level tokenizer over ChatML whose pieces are what ``pattern`` splits off."""
    from tests.tiny_llama import chatml_tokenizer
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers

    splitter = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    texts = ["system", "user", "assistant", "hi", ANSWER, "\n"]
    pieces = sorted({p for t in texts for p, _ in splitter.pre_tokenize_str(t)})
    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(specials + pieces)}, unk_token="<unk>"))
    core.pre_tokenizer = splitter
    core.add_special_tokens(specials)
    return chatml_tokenizer(core)


def _dist(tokenizer, answer: str = ANSWER) -> TokenDistribution:
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    n = len(enc["input_ids"])
    return TokenDistribution(
        text=answer,
        offsets=tuple(s for s, _ in enc["offset_mapping"]),
        ids=tuple(enc["input_ids"]),
        top_ids=tuple((i, 0) for i in enc["input_ids"]),
        top_logprobs=tuple((round(-0.1 * (j + 1), 3), -3.0) for j in range(n)),
    )


def _record():
    from stillhouse.records.schema import ConversationRecord

    return ConversationRecord.model_validate(
        {
            "schemaVersion": "bedrock-conversation-2024",
            "system": [{"text": "system"}],
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"text": ANSWER}]},
            ],
        }
    )


def test_align_offsets_pairs_tokens_that_start_at_the_same_character() -> None:
    # "route to audio": words start at 0, 5, 6, 8, 9; three-letter chunks at 0, 3, 5, 6, 8, 9, 12.
    assert align_offsets([0, 3, 5, 6, 8, 9, 12, None], [0, 5, 6, 8, 9]) == [0, None, 1, 2, 3, 4, None, None]


def test_same_tokenizer_every_answer_token_gets_its_teacher_row() -> None:
    words = _tokenizer(r"\w+|\s+")
    dist = _dist(words)
    example = encode_record(_record(), words, _render(words), {ANSWER: dist})
    labelled = [t for t in example.labels if t != IGNORE_INDEX]
    assert example.teacher is not None and len(example.teacher) == len(labelled)
    # The answer's 5 pieces get rows 0..4 in order; the end-of-turn marker and newline get none.
    assert [row[1][0] if row else None for row in example.teacher] == [
        -0.1,
        -0.2,
        -0.3,
        -0.4,
        -0.5,
        None,
        None,
    ]


def test_cross_tokenizer_rows_land_on_shared_boundaries_only() -> None:
    teacher, student = _tokenizer(r"\w+|\s+"), _tokenizer(r"\w{1,3}|\s+")
    example = encode_record(_record(), student, _render(student), {ANSWER: _dist(teacher)})
    pieces = student.convert_ids_to_tokens([t for t in example.labels if t != IGNORE_INDEX])
    assert pieces[:7] == ["rou", "te", " ", "to", " ", "aud", "io"]
    assert example.teacher is not None
    # Teacher words start at 0 ("route"), 5, 6 ("to"), 8, 9 ("audio"): "te" and "io" have no row.
    assert [row is not None for row in example.teacher] == [
        True,
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_record_whose_answer_has_no_distribution_trains_as_sft() -> None:
    words = _tokenizer(r"\w+|\s+")
    example = encode_record(
        _record(), words, _render(words), {"another answer": _dist(words, "another answer")}
    )
    assert example.teacher is not None and all(row is None for row in example.teacher)
    assert teacher_rows("x", [], [(0, 1)], [5], None, IGNORE_INDEX) == [None]


def test_collate_gathers_rows_in_target_order_padded_and_masked() -> None:
    a = Example([1, 2, 3], [IGNORE_INDEX, 2, 3], (((7, 8), (-0.5, -1.0)), None))
    b = Example([1, 4], [IGNORE_INDEX, 4], (((9,), (-0.2,)),))
    batch = collate([a, b], pad_id=0)
    assert batch["targets"].tolist() == [2, 3, 4]
    assert batch["teacher_ids"].tolist() == [[7, 8], [0, 0], [9, 0]]
    assert batch["teacher_mask"].tolist() == [True, False, True]
    assert batch["teacher_logprobs"][2].tolist() == [pytest.approx(-0.2), float("-inf")]
    assert "teacher_ids" not in collate([Example([1, 2], [IGNORE_INDEX, 2])], pad_id=0)


def test_truncation_keeps_the_rows_of_the_labels_it_keeps() -> None:
    example = Example([1, 2, 3, 4], [IGNORE_INDEX, 2, 3, 4], (((2,), (0.0,)), ((3,), (0.0,)), None))
    cut = fit_length(example, 3, "truncate")
    assert cut is not None and cut.teacher == (((2,), (0.0,)), ((3,), (0.0,)))


def test_read_distributions_refuses_a_missing_file_and_a_bad_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        read_distributions(tmp_path / "none.jsonl")
    good = _dist(_tokenizer(r"\w+|\s+")).model_dump_json()
    path = tmp_path / "d.jsonl"
    path.write_text(good + "\n\n" + good + "\n")
    assert list(read_distributions(path)) == [ANSWER]  # the same answer twice is one entry
    path.write_text(good + '\n{"text": "x"}\n')
    with pytest.raises(DatasetError, match="line 2"):
        read_distributions(path)


def _render(tokenizer):
    from stillhouse.train.data import chat_renderer

    return chat_renderer(tokenizer)
