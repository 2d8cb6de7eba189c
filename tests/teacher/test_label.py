"""label_records: caching across runs, resume without duplicates, failure reports, golden few-shot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.teacher.helpers import (
    ROUTER_QUERIES,
    MixTask,
    labelled_record,
    last_user,
    mix_answer,
    prompt_record,
    read_jsonl,
    router_responder,
)

from stillhouse.chat import GenerationParams, Message
from stillhouse.errors import InvalidInputError, ModelTimeoutError
from stillhouse.models.fake import FakeModel
from stillhouse.records.schema import ConversationRecord
from stillhouse.teacher.build import TeacherConfig, build_teacher
from stillhouse.teacher.label import SUMMARY_KEYS, LabelConfig, label_records
from stillhouse.teacher.records_io import Failure, assign_ids
from stillhouse.teacher.retry import RetryPolicy


def _label(records, model, tmp_path: Path, out: str = "out.jsonl", **kwargs):
    """``label_records`` with ``model`` as the teacher; ``task``, ``golden``, ``k`` and ``embedder``
    build the teacher, ``invalid``, ``line_numbers`` and ``sleep`` go to the run, the rest to
    :class:`LabelConfig`."""
    teacher_config = TeacherConfig(
        shots=kwargs.pop("k", 4), embedder=None, cache=kwargs.pop("cache", tmp_path / "cache.sqlite")
    )
    task = kwargs.pop("task", MixTask())
    golden, embedder = kwargs.pop("golden", ()), kwargs.pop("embedder", None)
    run = {key: kwargs.pop(key) for key in ("invalid", "line_numbers") if key in kwargs}
    sleep = kwargs.pop("sleep", lambda s: None)
    kwargs.setdefault("progress", False)
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))
    with build_teacher(teacher_config, golden, task, model=model, embedder=embedder) as teacher:
        return label_records(
            records, teacher, LabelConfig(**kwargs), out_path=tmp_path / out, sleep=sleep, **run
        )


def test_second_run_is_served_from_the_cache(tmp_path, prompts) -> None:
    teacher = FakeModel(router_responder)
    first = _label(prompts, teacher, tmp_path, "first.jsonl")
    assert (first.labelled, first.teacher_calls, first.from_cache, first.failed) == (20, 20, 0, 0)
    assert first.input_tokens > 0 and first.output_tokens > 0
    second = _label(prompts, teacher, tmp_path, "second.jsonl")
    assert (second.labelled, second.teacher_calls, second.from_cache) == (20, 0, 20)
    assert second.input_tokens == 0 and len(teacher.calls) == 20
    assert (tmp_path / "first.jsonl").read_text() == (tmp_path / "second.jsonl").read_text()
    assert list(second.public()) == list(SUMMARY_KEYS)


def test_output_is_labelled_records_in_input_order(tmp_path, prompts) -> None:
    _label(prompts, FakeModel(router_responder), tmp_path, workers=4)
    rows = [ConversationRecord.model_validate(r) for r in read_jsonl(tmp_path / "out.jsonl")]
    assert [r.messages[0].text for r in rows] == ROUTER_QUERIES
    assert all(
        r.is_labelled and json.loads(r.answer or "")["reasoning"] == f"about {q}"
        for r, q in zip(rows, ROUTER_QUERIES, strict=True)
    )
    assert rows[0].system is None  # the task's system prompt guides the teacher; the record stays as given


def test_rerun_into_the_same_output_skips_finished_records(tmp_path, prompts) -> None:
    teacher = FakeModel(router_responder)
    _label(prompts[:8], teacher, tmp_path)
    again = _label(prompts, teacher, tmp_path)
    assert again.resumed == 8 and again.labelled == 20 and again.teacher_calls == 12
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert len(rows) == 20 and len({json.dumps(r) for r in rows}) == 20
    assert _label(prompts, teacher, tmp_path).teacher_calls == 0
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 20


def test_torn_last_line_is_dropped_and_redone(tmp_path, prompts) -> None:
    teacher = FakeModel(router_responder)
    _label(prompts[:3], teacher, tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text(out.read_text() + '{"schemaVersion": "bedrock-conv')  # a crash mid-write
    summary = _label(prompts[:5], teacher, tmp_path)
    assert summary.resumed == 3 and len(read_jsonl(out)) == 5


def test_a_foreign_output_file_is_refused(tmp_path, prompts) -> None:
    (tmp_path / "out.jsonl").write_text('{"not": "a record"}\n')
    with pytest.raises(InvalidInputError, match="out.jsonl:1"):
        _label(prompts, FakeModel(router_responder), tmp_path)


def test_timeouts_and_garbage_land_in_the_failure_report(tmp_path, prompts) -> None:
    def flaky(messages: list[Message], params: GenerationParams):
        query = last_user(messages)
        if query == ROUTER_QUERIES[2]:
            return ModelTimeoutError("teacher did not answer in 30 s")
        if query == ROUTER_QUERIES[5]:
            return "I think it is mostly visual!"
        return router_responder(messages, params)

    sleeps: list[float] = []
    summary = _label(
        prompts, FakeModel(flaky), tmp_path, sleep=sleeps.append, failures_path=tmp_path / "f.jsonl"
    )
    assert (summary.labelled, summary.failed) == (18, 2)
    failures = {f["line"]: Failure.model_validate(f) for f in read_jsonl(tmp_path / "f.jsonl")}
    assert set(failures) == {3, 6}
    assert "ModelTimeoutError" in failures[3].reason and failures[3].attempts == 3
    assert "invalid answer" in failures[6].reason and failures[6].attempts == 3  # 1 try + 2 invalid retries
    assert failures[3].record_id == assign_ids(prompts)[2]
    assert len(sleeps) == 2  # backoff between the three timeouts, none for the garbage retries
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 18


def test_rejected_lines_are_reported_with_the_run(tmp_path, prompts) -> None:
    rejected = [Failure(line=7, record_id="", reason="invalid record: messages[0].role: must be user")]
    summary = _label(
        prompts[:2], FakeModel(router_responder), tmp_path, invalid=rejected, line_numbers=[1, 2]
    )
    report = read_jsonl(tmp_path / "out.jsonl.failures.jsonl")
    assert summary.failed == 1 and report[0]["line"] == 7 and "must be user" in report[0]["reason"]


def test_golden_records_are_kept_and_shown_as_nearest_shots(tmp_path, embedder) -> None:
    golden_pair = labelled_record("electric guitar solo live on stage", mix_answer(0.1, "sound"))
    other = labelled_record("sunset over snowy mountains", mix_answer(0.9, "looks"))
    teacher = FakeModel(router_responder)
    records = [golden_pair, prompt_record("guitar solo in a rainy street")]
    summary = _label(records, teacher, tmp_path, golden=[other], k=1, embedder=embedder)
    assert (summary.golden_kept, summary.labelled, summary.teacher_calls) == (1, 1, 1)
    sent = teacher.calls[0][0]
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[0].content == MixTask.system_prompt
    assert (sent[1].content, sent[2].content) == (
        "electric guitar solo live on stage",
        mix_answer(0.1, "sound"),
    )
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0] == json.loads(golden_pair.to_json())


def test_the_record_system_prompt_wins_over_the_task(tmp_path) -> None:
    teacher = FakeModel(router_responder)
    _label([prompt_record("q one", system="Custom system.")], teacher, tmp_path)
    assert teacher.calls[0][0][0] == Message(role="system", content="Custom system.")


def test_self_consistency_draws_n_samples(tmp_path, prompts) -> None:
    teacher = FakeModel(router_responder)
    summary = _label(prompts[:4], teacher, tmp_path, samples=3)
    assert summary.teacher_calls == 12
    assert all(p.temperature > 0 for _, p in teacher.calls)
    with pytest.raises(InvalidInputError, match="samples"):
        _label(prompts[:1], teacher, tmp_path, samples=3, task=None)


def test_duplicate_prompts_are_each_kept_once(tmp_path) -> None:
    records = [prompt_record("same"), prompt_record("same"), prompt_record("other")]
    teacher = FakeModel(router_responder)
    assert _label(records, teacher, tmp_path).labelled == 3
    assert _label(records, teacher, tmp_path).resumed == 3
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 3 and len(teacher.calls) == 2


def test_ordered_map_keeps_input_order_under_threads() -> None:
    import random
    import time

    from stillhouse.teacher.label import ordered_map

    rng = random.Random(0)
    delays = [rng.random() / 200 for _ in range(40)]

    def slow_square(i: int) -> int:
        time.sleep(delays[i])
        return i * i

    assert list(ordered_map(slow_square, list(range(40)), workers=6)) == [i * i for i in range(40)]


def test_the_prompts_file_is_refused_as_output(tmp_path, prompts) -> None:
    (tmp_path / "out.jsonl").write_text("\n".join(r.to_json() for r in prompts) + "\n")
    with pytest.raises(InvalidInputError, match="a prompt without an answer"):
        _label(prompts, FakeModel(router_responder), tmp_path)


def test_golden_pairs_count_on_a_resumed_run_too(tmp_path) -> None:
    records = [labelled_record("kept pair", mix_answer(0.5)), prompt_record("to label")]
    teacher = FakeModel(router_responder)
    first = _label(records, teacher, tmp_path)
    again = _label(records, teacher, tmp_path)
    assert (first.golden_kept, first.labelled) == (again.golden_kept, again.labelled) == (1, 1)
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2
