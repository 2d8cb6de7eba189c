"""The one dataset reader on whole files and folders: every bad line reported, every good record kept,
under each policy for bad lines."""

from __future__ import annotations

import inspect
import json
import tracemalloc

import pytest

from stillhouse.errors import DatasetError, InvalidInputError, NotFoundError
from stillhouse.records.jsonl import parse_record, write_records
from stillhouse.records.schema import ConversationRecord
from stillhouse.records.validate import require_at_most, require_records, require_usable
from stillhouse.sources.dataset import read_dataset
from stillhouse.sources.files import iter_source_lines


def _labelled(i: int) -> dict:
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Route the query."}],
        "messages": [
            {"role": "user", "content": [{"text": f"query {i} ünïcödé 🎬"}]},
            {"role": "assistant", "content": [{"text": '{"visual": 1.0}'}]},
        ],
    }


def test_mixed_dataset_reports_six_lines_and_keeps_120_records(mixed_dataset, mixed_dataset_expected):
    records, report = read_dataset(mixed_dataset, "distillation")
    assert len(records) == 120 and all(isinstance(r, ConversationRecord) for r in records)
    assert records[0].messages[0].text == "videos of a dog playing fetch, take 0"
    assert (report.read, report.valid, report.invalid_records, report.blank_lines) == (126, 120, 6, 0)
    assert report.usable
    assert sorted({p.line for p in report.invalid}) == [line for line, _, _ in mixed_dataset_expected]
    for line, field, words in mixed_dataset_expected:
        matches = [p for p in report.invalid if p.line == line and p.field == field]
        assert matches, f"line {line}: no problem on {field}: {report.invalid}"
        assert words in matches[0].reason
    assert report.by_rule == {
        "empty-text": 1,
        "image-role": 1,
        "json": 1,
        "reserved-string": 1,
        "roles": 1,
        "s3-uri": 1,
        "text-only": 1,
    }
    require_usable(report)  # does not raise


def test_too_few_valid_records_is_not_usable(tmp_path, make_record):
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(make_record(f"q{i}")) for i in range(99)) + "\n\n")
    records, report = read_dataset(path)
    assert len(records) == 99 and report.blank_lines == 1 and not report.usable
    assert "at least 100" in report.dataset_problems[0]
    with pytest.raises(DatasetError, match="at least 100"):
        require_usable(report)


def test_fine_tuning_profile_needs_labelled_records(tmp_path, make_record):
    path = tmp_path / "ft.jsonl"
    lines = [make_record(f"q{i}", answer="kw1, kw2") for i in range(8)] + [make_record("unlabelled")]
    path.write_text("\n".join(json.dumps(r) for r in lines))
    records, report = read_dataset(path, "fine-tuning")
    assert len(records) == 8 and report.usable
    assert [(p.line, p.rule) for p in report.invalid] == [(9, "labelled")]


def test_folder_source_names_files_and_restarts_line_numbers(tmp_path, make_record):
    (tmp_path / "b.jsonl").write_text(json.dumps(make_record("fine")) + "\n[]\n")
    (tmp_path / "a.jsonl").write_text("{oops\n" + json.dumps(make_record("ok")) + "\n")
    (tmp_path / "notes.txt").write_text("not a dataset")
    records, report = read_dataset(tmp_path, "fine-tuning")
    assert len(records) == 0  # fine-tuning wants labelled records; every line is reported
    located = [(p.file, p.line) for p in report.invalid]
    assert located[0] == ("a.jsonl", 1) and ("b.jsonl", 2) in located
    assert str(report.invalid[0]).startswith("a.jsonl: line 1: record: invalid JSON")


def test_unreadable_sources_raise_typed_errors(tmp_path):
    with pytest.raises(NotFoundError):
        read_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(NotFoundError, match="no .jsonl files"):
        read_dataset(tmp_path)
    with pytest.raises(InvalidInputError, match="unknown profile"):
        read_dataset(tmp_path, "pretraining")


def test_report_json_shape(mixed_dataset):
    _, report = read_dataset(mixed_dataset)
    data = report.to_json()
    assert data["valid"] == 120 and data["usable"] is True and data["read"] == 126
    assert set(data["invalid"][0]) == {"line", "field", "reason", "rule"}
    json.dumps(data)


# ------------------------------------------------------------------------ reading a file as it is


def test_reader_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(_labelled(0)).encode()
        + b"\n\n   \n{bad\r\n"
        + json.dumps(_labelled(1)).encode()
    )
    records, report = read_dataset(path, "none", "skip")
    assert report.kept_lines == [1, 5] and [p.line for p in report.invalid] == [4]
    assert len(records) == 2  # the BOM is not part of the record; no trailing newline is fine
    assert report.blank_lines == 2 and report.invalid[0].rule == "json"


def test_round_trip_read_write_read(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(_labelled(i)) for i in range(50)) + "\n", encoding="utf-8")
    first, _ = read_dataset(source, "none", "skip")
    assert write_records(tmp_path / "out.jsonl", first) == 50
    second, _ = read_dataset(tmp_path / "out.jsonl", "none", "skip")
    assert first == second
    assert [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()] == [
        _labelled(i) for i in range(50)
    ]


def test_reader_errors_name_the_path(tmp_path):
    with pytest.raises(NotFoundError, match="missing.jsonl"):
        read_dataset(tmp_path / "missing.jsonl", "none", "skip")
    with pytest.raises(NotFoundError, match="no .jsonl files in folder"):
        read_dataset(tmp_path, "none", "skip")


def test_source_lines_stream_a_15000_record_file(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps(_labelled(0))
    path.write_text((line + "\n") * 15_000, encoding="utf-8")
    lines = iter_source_lines(path)
    assert inspect.isgenerator(lines)
    tracemalloc.start()
    count = sum(1 for s in lines if isinstance(parse_record(s.raw, s.line), ConversationRecord))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 15_000
    # Holding the records would take several MB (and the file itself is ~3 MB); streaming stays tiny.
    assert peak < path.stat().st_size / 10, f"peak {peak} bytes for a {path.stat().st_size}-byte file"


# ------------------------------------------------------------------------------------ policies


def _mixed(tmp_path, make_record, good: int, bad: int = 1):
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(make_record(f"q{i}", answer="kw1, kw2")) for i in range(good)] + ["[]"] * bad
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_keeps_the_good_and_judges_the_whole(tmp_path, make_record):
    records, report = read_dataset(_mixed(tmp_path, make_record, 5), "fine-tuning", "report")
    assert len(records) == 5 and report.kept_lines == [1, 2, 3, 4, 5] and report.invalid[0].line == 6
    assert not report.usable and "at least 8" in report.dataset_problems[0]


def test_skip_gives_no_verdict_on_the_whole(tmp_path, make_record):
    records, report = read_dataset(_mixed(tmp_path, make_record, 5), "fine-tuning", "skip")
    assert len(records) == 5 and report.invalid[0].line == 6
    assert report.usable and report.dataset_problems == []
    empty = tmp_path / "e.jsonl"
    empty.write_text("[]\n")
    _, nothing = read_dataset(empty, "none", "skip")
    assert not nothing.usable and nothing.invalid_records == 1


def test_refuse_names_the_bad_line_and_the_size_rules(tmp_path, make_record):
    with pytest.raises(DatasetError, match="line 9: record: expected a JSON object") as bad:
        read_dataset(_mixed(tmp_path, make_record, 8), "fine-tuning", "refuse", what="training data")
    assert bad.value.field == "training data"
    small = _mixed(tmp_path, make_record, 2, bad=0)
    with pytest.raises(DatasetError, match="at least 8"):
        read_dataset(small, "fine-tuning", "refuse")
    records, _ = read_dataset(small, "fine-tuning", "refuse", sized=False)  # a validation set may be small
    assert len(records) == 2


def test_refuse_an_empty_file_even_unsized(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n")
    with pytest.raises(DatasetError, match="holds no records"):
        read_dataset(path, "fine-tuning", "refuse", sized=False)


def test_limit_stops_after_that_many_records(tmp_path, make_record):
    path = _mixed(tmp_path, make_record, 5)
    records, report = read_dataset(path, "none", "skip", limit=2)
    assert len(records) == 2 and report.read == 2
    with pytest.raises(InvalidInputError, match="limit must be at least 1"):
        read_dataset(path, "none", "skip", limit=0)


def test_unknown_policy_is_refused_before_reading(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown policy 'drop'"):
        read_dataset(tmp_path / "nope.jsonl", "none", "drop")  # type: ignore[arg-type]


def test_none_profile_checks_the_shape_only(tmp_path, make_record):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(make_record("")) + "\n")  # an empty text breaks a rule, not the shape
    records, report = read_dataset(path, "none", "report")
    assert len(records) == 1 and report.profile == "none" and report.usable
    assert read_dataset(path, "distillation", "report")[1].by_rule == {"empty-text": 1}


def test_kept_lines_are_not_part_of_the_json_report(mixed_dataset):
    _, report = read_dataset(mixed_dataset)
    assert len(report.kept_lines) == 120 and "kept_lines" not in report.to_json()


def test_require_at_most_refuses_an_oversize_read(mixed_dataset):
    _, report = read_dataset(mixed_dataset)
    require_at_most(report)  # 126 records: within the distillation limit
    with pytest.raises(DatasetError, match="has more than 50 records; distillation takes at most 50"):
        require_at_most(report, 50)


def test_require_records_refuses_nothing_readable(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("nope\n")
    _, report = read_dataset(path, "none", "skip")
    with pytest.raises(DatasetError, match=r"holds no readable record \(1 bad lines\)") as err:
        require_records(report, field="data")
    assert err.value.field == "data"


def _small_limit(limit: int):
    from stillhouse.records.rules import PROFILES

    return PROFILES["distillation"].model_copy(update={"max_bytes": limit})


def test_an_oversize_dataset_is_refused_before_reading(tmp_path, make_record, monkeypatch):
    import stillhouse.sources.dataset as dataset

    path = tmp_path / "big.jsonl"
    path.write_text("\n".join(json.dumps(make_record(f"q{i}")) for i in range(20)))
    monkeypatch.setattr(
        dataset, "iter_source_lines", lambda *a, **k: pytest.fail("read before the size check")
    )
    with pytest.raises(DatasetError, match=r"bytes; a distillation dataset takes at most 100 bytes \(1 GB\)"):
        read_dataset(path, _small_limit(100), "report")


def test_a_folder_is_sized_as_the_files_it_reads(tmp_path, make_record):
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(json.dumps(make_record("q")) + "\n")
    (tmp_path / "notes.txt").write_text("x" * 10_000)  # not read, not counted
    one = (tmp_path / "a.jsonl").stat().st_size
    read_dataset(tmp_path, _small_limit(2 * one), "skip")
    with pytest.raises(DatasetError):
        read_dataset(tmp_path, _small_limit(2 * one - 1), "skip")


def test_an_oversize_object_in_the_store_is_refused(tmp_path, make_record):
    from stillhouse.sources.objectstore import LocalObjectStore

    store = LocalObjectStore(tmp_path)
    store.put_bytes("s3://data/train.jsonl", (json.dumps(make_record("q")) + "\n").encode() * 10)
    with pytest.raises(DatasetError, match="at most 100 bytes"):
        read_dataset("s3://data/train.jsonl", _small_limit(100), "report", store=store)
    with pytest.raises(DatasetError, match="at most 100 bytes"):
        read_dataset("s3://data/", _small_limit(100), "report", store=store)


def test_the_default_limit_is_one_gigabyte():
    from stillhouse.records.rules import PROFILES

    assert PROFILES["distillation"].max_bytes == PROFILES["fine-tuning"].max_bytes == 1024**3


def test_a_gzipped_file_is_one_clear_problem(tmp_path, make_record):
    import gzip

    path = tmp_path / "train.jsonl"
    path.write_bytes(gzip.compress("\n".join(json.dumps(make_record(f"q{i}")) for i in range(200)).encode()))
    records, report = read_dataset(path, "distillation", "report")
    assert records == [] and [(p.line, p.rule) for p in report.invalid] == [(1, "gzip")]
