"""Each SPEC §1.3 rule on its own, on typed records (no files)."""

from __future__ import annotations

import pytest

from stillhouse.records.rules import PROFILES, check_record, dataset_problems, s3_uri_problem
from stillhouse.records.schema import ConversationRecord

DIST, FT = PROFILES["distillation"], PROFILES["fine-tuning"]


def _record(*turns: tuple[str, list[dict]], system: str | None = None) -> ConversationRecord:
    data: dict = {
        "schemaVersion": "bedrock-conversation-2024",
        "messages": [{"role": role, "content": content} for role, content in turns],
    }
    if system is not None:
        data["system"] = [{"text": system}]
    return ConversationRecord.model_validate(data)


def _text(t: str) -> list[dict]:
    return [{"text": t}]


def _image(fmt: str = "png", uri: str | None = None) -> dict:
    source = {"s3Location": {"uri": uri}} if uri else {"bytes": "aGVsbG8="}
    return {"image": {"format": fmt, "source": source}}


def _rules(record: ConversationRecord, profile=DIST) -> list[tuple[str, str]]:
    return [(p.rule, p.field) for p in check_record(record, 1, profile)]


def test_valid_prompt_and_pair_pass_distillation():
    assert _rules(_record(("user", _text("cats")))) == []
    assert _rules(_record(("user", _text("cats")), ("assistant", _text("{}")), system="route")) == []


def test_role_rules():
    assert _rules(_record(("system", _text("x")))) == [("roles", "messages[0].role")]
    assert _rules(_record(("assistant", _text("x")))) == [("first-role", "messages[0].role")]
    assert _rules(_record(("user", _text("a")), ("user", _text("b")))) == [
        ("alternation", "messages[1].role")
    ]
    assert _rules(ConversationRecord(schemaVersion="bedrock-conversation-2024", messages=[])) == [
        ("roles", "messages")
    ]


def test_fine_tuning_records_must_be_labelled():
    prompt_only = _record(("user", _text("cats")))
    assert _rules(prompt_only, FT) == [("labelled", "messages[0].role")]
    assert _rules(_record(("user", _text("a")), ("assistant", _text("b"))), FT) == []


@pytest.mark.parametrize(
    "reserved", ["User:", "bot:", "ASSISTANT:", "System:", "thought:", "<IMAGE>", "<video>", "[eos]", "<unk>"]
)
def test_reserved_strings_refused_in_prompts_case_insensitively(reserved):
    assert _rules(_record(("user", _text(f"find {reserved} clips")))) == [
        ("reserved-string", "messages[0].content[0].text")
    ]
    assert _rules(_record(("user", _text("ok")), system=f"say {reserved}")) == [
        ("reserved-string", "system[0].text")
    ]


def test_reserved_strings_allowed_in_answers():
    assert _rules(_record(("user", _text("q")), ("assistant", _text("User: said hi")))) == []


def test_empty_text_and_empty_turns():
    assert _rules(_record(("user", _text(" \n")))) == [("empty-text", "messages[0].content[0].text")]
    assert _rules(_record(("user", _text("q")), ("assistant", _text("")))) == [
        ("empty-text", "messages[1].content[0].text")
    ]
    assert _rules(_record(("user", []))) == [("empty-text", "messages[0].content")]
    assert _rules(_record(("user", _text("q")), system="")) == [("empty-text", "system[0].text")]


def test_image_rules_under_fine_tuning():
    good = _record(
        ("user", [*_text("keywords"), _image("jpeg"), _image("webp", "s3://b/img/1.webp")]),
        ("assistant", _text("a")),
    )
    assert _rules(good, FT) == []
    assert _rules(_record(("user", [*_text("k"), _image("jpg")]), ("assistant", _text("a"))), FT) == [
        ("image-format", "messages[0].content[1].image.format")
    ]
    too_many = _record(("user", [*_text("k"), *[_image() for _ in range(11)]]), ("assistant", _text("a")))
    assert _rules(too_many, FT) == [("image-count", "messages[0].content")]
    in_answer = _record(("user", _text("k")), ("assistant", [*_text("a"), _image()]))
    assert _rules(in_answer, FT) == [("image-role", "messages[1].content[1].image")]
    bad_bytes = {"image": {"format": "png", "source": {"bytes": "not base64!"}}}
    assert _rules(_record(("user", [*_text("k"), bad_bytes]), ("assistant", _text("a"))), FT) == [
        ("image-bytes", "messages[0].content[1].image.source.bytes")
    ]


def test_distillation_is_text_only():
    assert _rules(_record(("user", [*_text("k"), _image()]))) == [
        ("text-only", "messages[0].content[1].image")
    ]


def test_image_prompts_take_images_without_answers_and_keep_the_image_rules():
    profile = PROFILES["image-prompts"]
    assert _rules(_record(("user", [*_text("k"), _image()])), profile) == []
    assert _rules(_record(("user", [*_text("k"), _image("tiff")])), profile) == [
        ("image-format", "messages[0].content[1].image.format")
    ]
    assert (profile.min_valid, profile.max_records) == (FT.min_valid, FT.max_records)


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("s3://bucket/key.jpg", True),
        ("s3://my-bucket/a/b_c/d-e.f.png", True),
        ("https://bucket/key.jpg", False),
        ("s3://bucket/my photo.jpg", False),
        ("s3://bucket/a?b", False),
        ("s3://bucket", False),
        ("s3://bucket/", False),
        ("s3://bucket/../etc/passwd", False),
        ("s3://bucket//abs", False),
        ("s3:///key", False),
        ("s3://../key.png", False),  # the local store maps buckets onto folders too
        ("s3://./key.png", False),
        ("s3://-bucket/key.png", False),
        ("s3://Bucket/key.png", False),
        ("s3://a..b/key.png", False),
        ("s3://my.bucket-1/key.png", True),
    ],
)
def test_s3_uri_rule(uri, ok):
    assert (s3_uri_problem(uri) is None) == ok


def test_dataset_limits():
    assert dataset_problems(read=15_000, valid=100, profile=DIST) == []
    assert "at most 15000" in dataset_problems(15_001, 15_001, DIST)[0]
    assert "at least 100" in dataset_problems(120, 99, DIST)[0]
    assert dataset_problems(8, 8, FT) == []
    assert "at least 8" in dataset_problems(9, 7, FT)[0]
    assert "at most 20000" in dataset_problems(20_001, 20_001, FT)[0]


def test_a_record_without_schema_version_is_refused() -> None:
    record = ConversationRecord.model_validate({"messages": [{"role": "user", "content": _text("cats")}]})
    problems = check_record(record, 1, DIST)
    assert [(p.rule, p.field) for p in problems] == [("schema-version", "schemaVersion")]
    assert "required" in problems[0].reason and "bedrock-conversation-2024" in problems[0].reason


MULTI_TURN = (("user", _text("a")), ("assistant", _text("b")), ("user", _text("c")))


@pytest.mark.parametrize(
    "student",
    [
        "meta.llama3-1-8b-instruct-v1:0:128k",
        "meta.llama3-2-1b-instruct-v1:0",
        "anthropic.claude-3-haiku-20240307-v1:0:200k",
        "us.anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-2-3b-instruct-v1:0",
    ],
)
def test_multi_turn_prompts_are_refused_for_single_turn_students(student: str) -> None:
    problems = check_record(_record(*MULTI_TURN), 1, DIST.for_student(student))
    assert [(p.rule, p.field) for p in problems] == [("single-turn", "messages")]
    assert "2 user turns" in problems[0].reason and student in problems[0].reason


@pytest.mark.parametrize(
    "student", [None, "amazon.nova-micro-v1:0:128k", "amazon.nova-lite-v1:0:300k", "smollm2-135m"]
)
def test_multi_turn_prompts_are_kept_for_nova_and_local_students(student: str | None) -> None:
    assert _rules(_record(*MULTI_TURN), DIST.for_student(student)) == []


def test_single_turn_records_pass_for_every_student() -> None:
    pair = _record(("user", _text("a")), ("assistant", _text("b")))
    assert _rules(pair, DIST.for_student("meta.llama3-1-8b-instruct-v1:0:128k")) == []


def test_inline_images_reads_s3_images_and_keeps_inline_ones():
    from stillhouse.records.schema import inline_images

    record = _record(("user", [*_text("k"), _image(uri="s3://b/a.png"), _image()]))
    asked = []
    inlined = inline_images(record, lambda block: asked.append(block.source.s3Location.uri) or b"PNG")
    assert asked == ["s3://b/a.png"]
    sources = [img.source for img in inlined.messages[0].images]
    assert [s.bytes for s in sources] == ["UE5H", "aGVsbG8="] and all(s.s3Location is None for s in sources)
    text_only = _record(("user", _text("k")))
    assert inline_images(text_only, lambda block: b"") is text_only
