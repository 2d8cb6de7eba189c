"""Property-based tests: whatever the bytes, the reader and validator report; they never crash."""

from __future__ import annotations

import base64
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stillhouse.records.jsonl import parse_record, write_records
from stillhouse.records.rules import PROFILES, RESERVED_STRINGS, RecordProblem
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import check_line
from stillhouse.sources.dataset import read_dataset

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)

# Near-records: the right keys with values drawn to hit every rule (and some wrong types).
texts = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", *RESERVED_STRINGS]), st.integers())
images = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["png", "jpeg", "gif", "webp", "jpg", "bmp", ""]),
        "source": st.one_of(
            st.fixed_dictionaries({"bytes": st.sampled_from(["aGVsbG8=", "", "!!"])}),
            st.fixed_dictionaries(
                {
                    "s3Location": st.fixed_dictionaries(
                        {
                            "uri": st.one_of(
                                st.text(alphabet=string.printable, max_size=20).map("s3://b/".__add__),
                                st.text(max_size=10),
                            )
                        }
                    )
                }
            ),
            st.just({}),
        ),
    }
)
blocks = st.one_of(
    st.fixed_dictionaries({"text": texts}), st.fixed_dictionaries({"image": images}), json_values
)
turns = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "bot", ""]),
        "content": st.lists(blocks, max_size=12),
    }
)
near_records = st.fixed_dictionaries(
    {"messages": st.lists(turns, max_size=4)},
    optional={
        "schemaVersion": st.sampled_from(["bedrock-conversation-2024", "v1"]),
        "system": st.lists(st.fixed_dictionaries({"text": texts}), max_size=2),
        "extra": json_values,
    },
)


def _assert_reported(found: object, line: int) -> None:
    if isinstance(found, list):
        assert found and all(isinstance(p, RecordProblem) and p.line == line and p.reason for p in found)
    else:
        assert isinstance(found, ConversationRecord)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_are_reported(raw):
    _assert_reported(parse_record(raw, 3), 3)


@SETTINGS
@given(value=json_values)
def test_arbitrary_json_is_reported(value):
    for profile in PROFILES.values():
        _assert_reported(check_line(json.dumps(value), 1, profile), 1)


@SETTINGS
@given(data=near_records, profile=st.sampled_from(sorted(PROFILES)))
def test_near_records_are_reported(data, profile):
    _assert_reported(check_line(json.dumps(data), 1, PROFILES[profile]), 1)


# Valid records by construction: alternating turns, non-blank text free of reserved strings
# (none of ':', '<', '[' can appear), images only in user turns.
safe_text = st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters=":<["), min_size=1, max_size=40
).filter(str.strip)
valid_images = st.fixed_dictionaries(
    {
        "format": st.sampled_from(["png", "jpeg", "gif", "webp"]),
        "source": st.one_of(
            st.binary(min_size=1, max_size=16).map(lambda b: {"bytes": base64.b64encode(b).decode()}),
            st.from_regex(r"[a-z0-9]{3,8}/[\w\-]{1,8}(/[\w\-]{1,8})?\.png", fullmatch=True).map(
                lambda key: {"s3Location": {"uri": "s3://" + key}}
            ),
        ),
    }
)


@st.composite
def valid_records(draw: st.DrawFn, *, labelled: bool, with_images: bool) -> dict:
    turns = 2 * draw(st.integers(1, 3)) - (0 if labelled else 1)
    messages = []
    for i in range(turns):
        role = "user" if i % 2 == 0 else "assistant"
        content = [{"text": t} for t in draw(st.lists(safe_text, min_size=1, max_size=2))]
        if role == "user" and with_images:
            content += [{"image": img} for img in draw(st.lists(valid_images, max_size=10))]
        messages.append({"role": role, "content": content})
    record = {"schemaVersion": "bedrock-conversation-2024", "messages": messages}
    if draw(st.booleans()):
        record["system"] = [{"text": draw(safe_text)}]
    return record


@SETTINGS
@given(
    data=st.one_of(
        valid_records(labelled=False, with_images=False).map(lambda r: ("distillation", r)),
        valid_records(labelled=True, with_images=False).map(lambda r: ("distillation", r)),
        valid_records(labelled=True, with_images=True).map(lambda r: ("fine-tuning", r)),
    )
)
def test_valid_records_pass_and_round_trip(tmp_path_factory, data):
    profile, raw = data
    found = check_line(json.dumps(raw, ensure_ascii=False), 1, PROFILES[profile])
    assert isinstance(found, ConversationRecord), found
    path = tmp_path_factory.mktemp("rt") / "r.jsonl"
    write_records(path, [found])
    assert read_dataset(path, "none", "skip")[0] == [found]
    assert json.loads(path.read_text("utf-8")) == raw


@SETTINGS
@given(content=st.binary(max_size=2000))
def test_arbitrary_files_account_for_every_line(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("files") / "any.jsonl"
    path.write_bytes(content)
    records, report = read_dataset(path)
    lines = len(content.split(b"\n")) - (1 if content.endswith(b"\n") or not content else 0)
    assert report.read + report.blank_lines == lines
    assert report.valid + report.invalid_records == report.read == len(records) + report.invalid_records
    assert not report.usable  # never 100 valid records in 2,000 random bytes
