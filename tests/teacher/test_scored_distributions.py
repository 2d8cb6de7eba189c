"""Distributions of answers rewritten into a task's student format: the teacher scores the rewritten
answer after its own conversation (shots rewritten alike), the scores are cached under the scored
text, and the written distributions are exactly what training in the student format looks up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.teacher.helpers import last_user, prompt_record, read_jsonl

from stillhouse.chat import GenerationParams, Message, TokenDistribution
from stillhouse.errors import InvalidInputError, ModelError
from stillhouse.models.fake import FakeModel
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks import get_task
from stillhouse.tasks.student import to_student_record
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.cache import RequestCache, cache_key, cached_score, score_key
from stillhouse.teacher.distributions import distributions_path
from stillhouse.teacher.label import LabelConfig, label_records

TASK = get_task("video-router")
QUERIES = ["sunset over mountains", "guitar solo", "ceo talks about layoffs", "videos from 2019"]


def _router_answer(messages: list[Message], params: GenerationParams) -> str:
    visual = 0.7 if "sunset" in last_user(messages) else 0.1
    rest = round((1 - visual) / 3, 2)
    weights = {
        "visual": visual,
        "audio": rest,
        "transcription": rest,
        "metadata": round(1 - visual - 2 * rest, 2),
    }
    return json.dumps({**weights, "reasoning": f"about {last_user(messages)}"})


class ScoringFake(FakeModel):
    """A router teacher that scores any answer word by word (the word's start as its offset)."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__(_router_answer, name="scorer")
        self.scored: list[tuple[list[Message], str]] = []
        self.fail_on = fail_on

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        if self.fail_on and self.fail_on in last_user(messages):
            raise ModelError("scoring failed")
        self.scored.append((messages, answer))
        words = answer.split(" ")
        offsets = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
        return TokenDistribution(
            text=answer,
            offsets=tuple(offsets),
            ids=tuple(range(len(words))),
            top_ids=tuple(tuple(range(i, i + top_k)) for i in range(len(words))),
            top_logprobs=tuple((-0.5,) * top_k for _ in words),
        )


def _records() -> list[ConversationRecord]:
    golden = ConversationRecord.model_validate(
        {
            "system": [{"text": SYSTEM_PROMPT}],
            "messages": [
                {"role": "user", "content": [{"text": "dog running on a beach"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"text": _router_answer([Message(role="user", content="sunset")], GenerationParams())}
                    ],
                },
            ],
        }
    )
    return [golden, *(prompt_record(q, system=SYSTEM_PROMPT) for q in QUERIES)]


def _label(model, tmp_path: Path, out: str, *, task=TASK, executor=None, **kwargs):
    config = TeacherConfig(
        shots=1, anchored=0, steer=False, embedder="hashing", cache=tmp_path / "cache.sqlite"
    )
    run = LabelConfig(progress=False, top_logprobs=3, distributions_for="student", **kwargs)
    with build_teacher(config, (), task, model=model) as teacher:
        return label_records(_records(), teacher, run, out_path=tmp_path / out, executor=executor)


def test_the_teacher_scores_each_answer_as_the_student_format_rewrites_it(tmp_path: Path) -> None:
    model = ScoringFake()
    summary = _label(model, tmp_path, "a.jsonl")
    assert (summary.labelled, summary.teacher_calls, summary.distributions) == (4, 4, 4)
    labelled = [ConversationRecord.model_validate(r) for r in read_jsonl(tmp_path / "a.jsonl")]
    students = [to_student_record(TASK, r).answer for r in labelled if r.messages[0].text in QUERIES]
    written = [
        TokenDistribution.model_validate(d) for d in read_jsonl(distributions_path(tmp_path / "a.jsonl"))
    ]
    # What training in the student format looks its distributions up by: the rewritten answers.
    assert [d.text for d in written] == students and students[0].startswith('{"route": "visual"')
    messages, answer = model.scored[0]
    assert answer == students[0] and messages[0].content == SYSTEM_PROMPT  # the teacher's own prompt
    shot = next(m for m in messages if m.role == "assistant")
    assert shot.content.startswith('{"route": "visual"')  # its shot in the format it is scored in
    assert messages[-1].content == QUERIES[0]


def test_a_relabel_scores_nothing_again_and_generation_keeps_its_cached_answers(tmp_path: Path) -> None:
    model = ScoringFake()
    _label(model, tmp_path, "a.jsonl")
    again = _label(model, tmp_path, "b.jsonl")
    assert (again.teacher_calls, again.from_cache, again.distributions, len(model.scored)) == (0, 4, 4, 4)
    assert (
        distributions_path(tmp_path / "b.jsonl").read_text()
        == distributions_path(tmp_path / "a.jsonl").read_text()
    )


def test_an_answer_whose_scoring_fails_is_kept_without_distributions(tmp_path: Path) -> None:
    summary = _label(ScoringFake(fail_on="guitar"), tmp_path, "a.jsonl")
    assert (summary.labelled, summary.failed, summary.distributions) == (4, 0, 3)


def test_scoring_is_cached_under_the_scored_text(tmp_path: Path) -> None:
    model, messages = ScoringFake(), [Message(role="user", content="q")]
    with RequestCache(tmp_path / "c.sqlite") as cache:
        first, hit = cached_score(model, messages, "a b", cache, 3)
        assert not hit and len(model.scored) == 1
        again, hit = cached_score(model, messages, "a b", cache, 3)
        assert hit and again == first and len(model.scored) == 1
        assert not cached_score(model, messages, "a c", cache, 3)[1]  # another answer: scored anew
        assert not cached_score(model, messages, "a b", cache, 5)[1]  # wider than stored: anew
        assert cached_score(model, messages, "a b", cache, 4)[1]  # the 5 stored serve 4
        assert len(cache) == 0  # scores are no answers: the requests table is untouched
    assert score_key("t", messages, "a") != score_key("t", messages, "b")
    assert score_key("t", messages, "a") != cache_key("t", messages, GenerationParams())


def test_scoring_needs_a_task_with_a_student_format_and_a_teacher_that_scores(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as err:
        _label(ScoringFake(), tmp_path, "a.jsonl", task=None)
    assert err.value.field == "distributions_for"
    with pytest.raises(InvalidInputError, match="cannot score"):
        _label(FakeModel(_router_answer), tmp_path, "b.jsonl")
    with pytest.raises(InvalidInputError, match="cannot score"):
        cached_score(FakeModel(_router_answer), [Message(role="user", content="q")], "a", None, 2)
    with pytest.raises(ValueError):
        LabelConfig(distributions_for="teacher")


_ROWS = {  # each table's content (not the time a row was written)
    "requests": "SELECT key, teacher, completion FROM requests ORDER BY key",
    "distributions": "SELECT key, top_k, payload FROM distributions ORDER BY key",
}


def _table(path: Path, table: str) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute(_ROWS[table]).fetchall()


def test_scoring_on_a_remote_executor_writes_the_local_files_and_cache(tmp_path: Path) -> None:
    """Scores made in a remote worker come back to the driver, which alone writes them: the same
    files and both cache tables as a local run, and a relabel there sends nothing."""
    from tests.executors.test_seam import PickledRemote

    from stillhouse.models.lazy import LazyModel

    def teacher() -> LazyModel:  # loads where it is sent, as on Ray
        return LazyModel("scorer", ScoringFake)

    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir(), remote.mkdir()
    _label(teacher(), local, "a.jsonl")
    sent = PickledRemote()
    summary = _label(teacher(), remote, "a.jsonl", executor=sent)
    assert (summary.labelled, summary.distributions, len(sent.sent)) == (4, 4, 4)
    for name in ("a.jsonl", distributions_path(Path("a.jsonl")).name):
        assert (remote / name).read_bytes() == (local / name).read_bytes()
    for table in ("requests", "distributions"):
        assert _table(remote / "cache.sqlite", table) == _table(local / "cache.sqlite", table)
    again = PickledRemote()
    rerun = _label(teacher(), remote, "b.jsonl", executor=again)
    assert again.sent == [] and (rerun.teacher_calls, rerun.distributions) == (0, 4)
