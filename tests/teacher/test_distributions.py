"""Labelling with the teacher's top-k distributions: cached under the request's key, written beside
the output, free on a relabel, and off by default (plain labelling is unchanged)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from tests.teacher.helpers import last_user, read_jsonl

from stillhouse.chat import Completion, GenerationParams, Message, TokenDistribution
from stillhouse.errors import InvalidInputError
from stillhouse.models.fake import FakeModel
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.cache import (
    RequestCache,
    cache_key,
    cached_generate,
    cached_generate_with_distribution,
)
from stillhouse.teacher.distributions import distributions_path, fit_to_answer, pack, unpack
from stillhouse.teacher.label import LabelConfig, label_records


def _answer(messages: list[Message], params: GenerationParams) -> str:
    return f" route {last_user(messages)}\n"  # surrounding whitespace, stripped by labelling


class LogprobFake(FakeModel):
    """A fake teacher whose tokens are its answer's words, the chosen one at log-probability -0.25."""

    def __init__(self) -> None:
        super().__init__(_answer)
        self.scored = 0

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        completion = self.generate(messages, params)
        self.scored += 1
        pieces = [(m.start(), m.group()) for m in re.finditer(r"\s*\S+|\s+", completion.text)]
        return completion, TokenDistribution(
            text=completion.text,
            offsets=tuple(start for start, _ in pieces),
            ids=tuple(range(len(pieces))),
            top_ids=tuple(tuple(range(i, i + top_k)) for i in range(len(pieces))),
            top_logprobs=tuple((-0.25,) + (-5.0,) * (top_k - 1) for _ in pieces),
        )


def _label(records, model, tmp_path: Path, out: str, **kwargs):
    config = TeacherConfig(shots=0, embedder=None, cache=tmp_path / "cache.sqlite")
    with build_teacher(config, (), None, model=model) as teacher:
        return label_records(records, teacher, LabelConfig(progress=False, **kwargs), out_path=tmp_path / out)


def test_distributions_are_written_beside_the_output_and_free_on_a_relabel(tmp_path, prompts) -> None:
    model = LogprobFake()
    first = _label(prompts, model, tmp_path, "a.jsonl", top_logprobs=3)
    assert (first.labelled, first.teacher_calls, first.distributions) == (20, 20, 20)
    lines = read_jsonl(distributions_path(tmp_path / "a.jsonl"))
    answers = [r["messages"][-1]["content"][0]["text"] for r in read_jsonl(tmp_path / "a.jsonl")]
    assert [line["text"] for line in lines] == answers  # the stripped answers, in output order
    dist = TokenDistribution.model_validate(lines[0])
    assert dist.offsets[:2] == (0, 5) and len(dist.top_ids[0]) == 3  # offsets into the stripped answer

    again = _label(prompts, model, tmp_path, "b.jsonl", top_logprobs=3)
    assert (again.teacher_calls, again.from_cache, model.scored) == (0, 20, 20)
    assert (
        distributions_path(tmp_path / "b.jsonl").read_text()
        == distributions_path(tmp_path / "a.jsonl").read_text()
    )
    # A wider top-k than the cache holds asks the teacher again.
    wider = _label(prompts[:2], model, tmp_path, "c.jsonl", top_logprobs=5)
    assert wider.teacher_calls == 2


def test_off_by_default_nothing_changes(tmp_path, prompts) -> None:
    model = LogprobFake()
    summary = _label(prompts[:3], model, tmp_path, "a.jsonl")
    assert summary.distributions == 0 and model.scored == 0
    assert not distributions_path(tmp_path / "a.jsonl").exists()
    with sqlite3.connect(tmp_path / "cache.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM distributions").fetchone()[0] == 0
    # The key is today's: (teacher, messages, params) only.
    params = GenerationParams(max_tokens=8)
    messages = [Message(role="user", content="q")]
    assert cache_key("t", messages, params) == cache_key("t", messages, GenerationParams(max_tokens=8))


def test_an_answer_cached_without_distributions_is_asked_again_then_reused(tmp_path) -> None:
    model, messages, params = LogprobFake(), [Message(role="user", content="cats")], GenerationParams()
    with RequestCache(tmp_path / "c.sqlite") as cache:
        cached_generate(model, messages, params, cache)
        _, dist, hit = cached_generate_with_distribution(model, messages, params, cache, 2)
        assert not hit and model.scored == 1 and dist.text == " route cats\n"
        completion, again, hit = cached_generate_with_distribution(model, messages, params, cache, 2)
        assert hit and again == dist and completion.text == dist.text and len(cache) == 1


def test_a_teacher_without_log_probabilities_and_combined_samples_are_refused(tmp_path, prompts) -> None:
    with pytest.raises(InvalidInputError) as err:
        _label(prompts, FakeModel(_answer), tmp_path, "a.jsonl", top_logprobs=3)
    assert err.value.field == "top_logprobs"
    with pytest.raises(InvalidInputError, match="samples"):
        _label(prompts, LogprobFake(), tmp_path, "b.jsonl", top_logprobs=3, samples=3)
    with pytest.raises(InvalidInputError, match="cannot return token log-probabilities"):
        cached_generate_with_distribution(
            FakeModel(_answer), [Message(role="user", content="q")], GenerationParams(), None, 2
        )
    with pytest.raises(ValueError):
        LabelConfig(top_logprobs=21)


def test_fit_to_answer_and_packing() -> None:
    dist = TokenDistribution(
        text=" a b\n",
        offsets=(0, 2, 4),
        ids=(1, 2, 3),
        top_ids=((1,), (2,), (3,)),
        top_logprobs=((-0.1,), (-0.2,), (-0.3,)),
    )
    fitted = fit_to_answer(dist, "a b")
    # " a" straddles the stripped space: it predicted the answer's start, so it stays at 0.
    assert fitted is not None and fitted.offsets == (0, 1) and fitted.ids == (1, 2)
    assert fit_to_answer(dist, '{"a": 1}') is None  # a re-rendered answer is not the teacher's tokens
    assert fit_to_answer(dist, " a b\n") is dist
    assert unpack(pack(dist)) == dist and len(pack(dist)) < len(dist.model_dump_json())
