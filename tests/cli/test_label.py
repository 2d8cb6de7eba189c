"""`stillhouse label` / `stillhouse synthesize` end to end through the CLI, with a scripted teacher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stillhouse.chat import GenerationParams, Message
from stillhouse.cli import app
from stillhouse.errors import OutputPathError
from stillhouse.models.fake import FakeModel

QUERIES = [
    "sunset over mountains",
    "guitar solo",
    "CEO talks about layoffs",
    "NASA videos from 2019",
    "birds at dawn",
]


def _router_answer(messages: list[Message], params: GenerationParams) -> str:
    query = [m.content for m in messages if m.role == "user"][-1]
    if "garbage" in query:
        return "no idea"
    return json.dumps(
        {"visual": 0.4, "audio": 0.3, "transcription": 0.2, "metadata": 0.1, "reasoning": f"for {query}"}
    )


def _record(query: str, answer: str | None = None) -> str:
    messages = [{"role": "user", "content": [{"text": query}]}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"text": answer}]})
    return json.dumps({"schemaVersion": "bedrock-conversation-2024", "messages": messages})


@pytest.fixture
def teacher(monkeypatch) -> FakeModel:
    fake = FakeModel(_router_answer, name="fake-teacher")
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: fake)
    return fake


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_label_json_summary_and_rerun_from_cache(tmp_path: Path, teacher: FakeModel) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_record(q) for q in QUERIES) + "\n")
    args = [
        "label",
        str(prompts),
        "--teacher",
        "fake",
        "--task",
        "video-router",
        "--cache",
        str(tmp_path / "c.sqlite"),
        "--json",
    ]
    first = _run([*args, "--out", str(tmp_path / "a.jsonl")])
    assert set(first) == {
        "labelled",
        "from_cache",
        "teacher_calls",
        "failed",
        "input_tokens",
        "output_tokens",
        "seconds",
    }
    assert (first["labelled"], first["teacher_calls"], first["failed"]) == (5, 5, 0)
    second = _run([*args, "--out", str(tmp_path / "b.jsonl")])
    assert (second["labelled"], second["from_cache"], second["teacher_calls"]) == (5, 5, 0)
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    answer = json.loads(rows[0]["messages"][-1]["content"][0]["text"])
    assert answer["visual"] == 0.4 and answer["reasoning"] == "for sunset over mountains"
    assert teacher.calls[0][1].json_schema is not None  # the task's schema reaches the backend


def test_invalid_lines_and_failures_are_reported(tmp_path: Path, teacher: FakeModel) -> None:
    prompts = tmp_path / "prompts.jsonl"
    lines = [_record("guitar solo"), "{broken json", _record("Assistant: hi"), _record("garbage please")]
    prompts.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    summary = _run(
        [
            "label",
            str(prompts),
            "--teacher",
            "fake",
            "--task",
            "video-router",
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--json",
        ]
    )
    assert (summary["labelled"], summary["failed"]) == (1, 3)
    report = {
        r["line"]: r
        for r in map(json.loads, (tmp_path / "out.jsonl.failures.jsonl").read_text().splitlines())
    }
    assert set(report) == {2, 3, 4}
    assert "invalid JSON" in report[2]["reason"] and "Assistant:" in report[3]["reason"]
    assert "invalid answer" in report[4]["reason"]


def test_golden_file_guides_the_teacher(tmp_path: Path, teacher: FakeModel) -> None:
    prompts, golden = tmp_path / "prompts.jsonl", tmp_path / "golden.jsonl"
    prompts.write_text(_record("electric guitar solo live") + "\n")
    shot = json.dumps(
        {"visual": 0.1, "audio": 0.7, "transcription": 0.1, "metadata": 0.1, "reasoning": "music"}
    )
    golden.write_text(_record("guitar solo on stage", shot) + "\n" + _record("sunset at sea", shot) + "\n")
    result = CliRunner().invoke(
        app,
        [
            "label",
            str(prompts),
            "--teacher",
            "fake",
            "--out",
            str(tmp_path / "o.jsonl"),
            "--golden",
            str(golden),
            "--k",
            "1",
            "--embedder",
            "hashing",
            "--cache",
            str(tmp_path / "c.sqlite"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "labelled 1" in result.stdout
    sent = teacher.calls[0][0]
    assert [m.content for m in sent if m.role == "user"] == [
        "guitar solo on stage",
        "electric guitar solo live",
    ]


def test_synthesize_writes_new_prompts(tmp_path: Path, monkeypatch) -> None:
    fake = FakeModel(
        lambda m, p: f"1. new query {p.seed} a\n2. new query {p.seed} b\n3. sunset over mountains"
    )
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: fake)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_record(q) for q in QUERIES) + "\n")
    out = tmp_path / "new.jsonl"
    summary = _run(
        [
            "synthesize",
            str(prompts),
            "--teacher",
            "fake",
            "--n",
            "4",
            "--out",
            str(out),
            "--embedder",
            "hashing",
            "--cache",
            str(tmp_path / "c.sqlite"),
            "--json",
        ]
    )
    assert summary["generated"] == 4 and summary["teacher_calls"] == 2
    texts = [json.loads(line)["messages"][0]["content"][0]["text"] for line in out.read_text().splitlines()]
    assert texts == ["new query 0 a", "new query 0 b", "new query 1 a", "new query 1 b"]


def _label_args(prompts: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "label",
        str(prompts),
        "--teacher",
        "fake",
        "--task",
        "video-router",
        "--out",
        str(tmp_path / "out.jsonl"),
        "--cache",
        str(tmp_path / "c.sqlite"),
        *extra,
    ]


@pytest.mark.parametrize("as_json", [False, True])
def test_nothing_usable_exits_1_and_says_where_the_failures_are(
    tmp_path: Path, teacher: FakeModel, as_json: bool
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(["{garbage"] * 18) + "\n")
    result = CliRunner().invoke(app, _label_args(prompts, tmp_path, *(["--json"] if as_json else [])))
    assert result.exit_code == 1, result.output
    report = tmp_path / "out.jsonl.failures.jsonl"
    assert f"18 records failed or were invalid: see {report}" in result.output
    assert len(report.read_text().splitlines()) == 18
    if as_json:
        assert json.loads(result.stdout)["failed"] == 18  # stdout stays one JSON object


def test_an_unreachable_teacher_exits_1(tmp_path: Path, monkeypatch) -> None:
    from stillhouse.errors import ModelError

    down = FakeModel(lambda messages, params: ModelError("connection refused"))
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: down)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_record(q) for q in QUERIES) + "\n")
    result = CliRunner().invoke(app, _label_args(prompts, tmp_path))
    assert result.exit_code == 1, result.output
    assert "labelled 0" in result.stdout and "5 records failed or were invalid: see" in result.stdout


def test_the_failure_report_is_named_even_when_nothing_failed(tmp_path: Path, teacher: FakeModel) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(_record("guitar solo") + "\n")
    result = CliRunner().invoke(app, _label_args(prompts, tmp_path))
    assert result.exit_code == 0, result.output
    assert f"0 records failed or were invalid: see {tmp_path / 'out.jsonl.failures.jsonl'}" in result.stdout


def test_without_a_terminal_progress_lines_go_to_stderr(tmp_path: Path, teacher: FakeModel) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_record(q) for q in QUERIES) + "\n")
    result = CliRunner().invoke(app, _label_args(prompts, tmp_path, "--json"))
    assert result.exit_code == 0, result.output
    assert "labelling: 5/5 (100%)" in result.stderr
    json.loads(result.stdout)


@pytest.mark.parametrize("flag", ["--out", "--failures"])
def test_an_output_under_a_file_is_refused_before_the_teacher_loads(
    tmp_path: Path, monkeypatch, flag: str
) -> None:
    def no_teacher(spec: str) -> FakeModel:
        raise AssertionError("the teacher was loaded before the output was checked")

    monkeypatch.setattr("stillhouse.models.load_model", no_teacher)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(_record("guitar solo") + "\n")
    (tmp_path / "file").write_text("x")
    args = _label_args(prompts, tmp_path, flag, str(tmp_path / "file" / "o.jsonl"))
    result = CliRunner().invoke(app, args)
    assert isinstance(result.exception, OutputPathError), result.output
    assert result.exception.field == flag.removeprefix("--")


def test_synthesize_checks_its_output_first(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: pytest.fail("teacher loaded"))
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(_record("guitar solo") + "\n")
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(
        app,
        ["synthesize", str(prompts), "--teacher", "fake", "--n", "2", "--out", str(tmp_path / "file" / "o")],
    )
    assert isinstance(result.exception, OutputPathError), result.output


def test_label_with_no_teacher_options_uses_the_teacher_defaults(tmp_path: Path, monkeypatch) -> None:
    import stillhouse.teacher.build as build
    from stillhouse.models.embeddings import HashingEmbedder

    real, seen, fake = build.build_teacher, [], FakeModel(_router_answer, name="fake-teacher")

    def spy(config, golden, task, **_):
        seen.append((config, task))
        return real(config, golden, task, model=fake, embedder=HashingEmbedder())

    monkeypatch.setattr(build, "build_teacher", spy)
    monkeypatch.setenv("STILLHOUSE_HOME", str(tmp_path / "home"))
    golden = tmp_path / "golden.jsonl"
    golden.write_text(_record("drum solo", _router_answer([Message(role="user", content="x")], None)) + "\n")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(_record(QUERIES[0]) + "\n")
    args = ["label", str(prompts), "--task", "video-router", "--golden", str(golden)]
    summary = _run([*args, "--out", str(tmp_path / "out.jsonl"), "--json"])
    config, task = seen[0]
    assert config == build.TeacherConfig() and task is not None and task.name == "video-router"
    assert (config.model, config.shots, config.anchored, config.steer) == ("qwen2.5-coder-1.5b", 4, 4, True)
    assert summary["labelled"] == 1 and fake.calls[0][0][1].content == "drum solo"  # the golden shot


class _ScoringTeacher(FakeModel):
    """The scripted teacher that also scores a given answer (one row per character)."""

    def score_answer(self, messages: list[Message], answer: str, top_k: int):
        from stillhouse.chat import TokenDistribution

        return TokenDistribution(
            text=answer,
            offsets=tuple(range(len(answer))),
            ids=tuple(range(len(answer))),
            top_ids=tuple((i,) for i in range(len(answer))),
            top_logprobs=tuple((-0.1,) for _ in answer),
        )


def test_label_writes_the_distributions_of_the_student_format_answers(tmp_path: Path, monkeypatch) -> None:
    fake = _ScoringTeacher(_router_answer, name="fake-teacher")
    monkeypatch.setattr("stillhouse.models.load_model", lambda spec: fake)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(_record(q) for q in QUERIES[:2]) + "\n")
    out = tmp_path / "a.jsonl"
    args = ["label", str(prompts), "--teacher", "fake", "--task", "video-router", "--out", str(out)]
    args += ["--cache", str(tmp_path / "c.sqlite"), "--top-logprobs", "2", "--json"]
    _run([*args, "--distributions-for", "student"])
    texts = [
        json.loads(line)["text"]
        for line in (tmp_path / "a.jsonl.distributions.jsonl").read_text().splitlines()
    ]
    assert len(texts) == 2 and all(t.startswith('{"route": "visual", "reasoning": "for ') for t in texts)
    refused = CliRunner().invoke(app, [*args, "--distributions-for", "teacher"])
    assert refused.exit_code == 2 and "answer" in refused.output and "student" in refused.output
