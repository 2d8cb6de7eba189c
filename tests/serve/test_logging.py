"""The invocation-log writer: layout, encoding, buffering, and reading back with the log reader."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from stillhouse.serve.logging import InvocationLogWriter, build_record, encode_batch
from stillhouse.sources.invocation_logs import InvocationLogRecord, InvocationLogsConfig, records_from_logs
from stillhouse.sources.objectstore import LocalObjectStore


def _rec(text: str, use_case: str, at: datetime) -> InvocationLogRecord:
    return build_record(
        operation="Converse",
        model_id="m",
        request_metadata={"use_case": use_case},
        input_body={"messages": [{"role": "user", "content": [{"text": text}]}]},
        output_body={"output": {"message": {"role": "assistant", "content": [{"text": "A:" + text}]}}},
        input_tokens=3,
        output_tokens=2,
        at=at,
    )


def test_batch_is_split_by_hour_as_gzipped_json_lines() -> None:
    recs = [
        _rec("a", "router", datetime(2026, 1, 2, 3, 59, tzinfo=UTC)),
        _rec("b", "other", datetime(2026, 1, 2, 4, 0, 1, tzinfo=UTC)),
    ]
    objects = encode_batch(recs, "logs/", batch_id="x1")
    assert sorted(objects) == [
        "logs/2026/01/02/03/20260102T035900_x1.json.gz",
        "logs/2026/01/02/04/20260102T040001_x1.json.gz",
    ]
    lines = gzip.decompress(objects["logs/2026/01/02/03/20260102T035900_x1.json.gz"]).decode().splitlines()
    doc = json.loads(lines[0])
    assert doc["schemaType"] == "ModelInvocationLog" and doc["requestMetadata"] == {"use_case": "router"}
    assert doc["input"]["inputTokenCount"] == 3 and doc["output"]["outputTokenCount"] == 2


def test_reader_reads_what_the_writer_wrote() -> None:
    at = datetime(2026, 5, 6, 7, tzinfo=UTC)
    objects = encode_batch([_rec("q1", "router", at), _rec("q2", "other", at)], "p", batch_id="b")
    config = InvocationLogsConfig.model_validate(
        {
            "usePromptResponse": True,
            "invocationLogSource": {"s3Uri": "s3://b/p/"},
            "requestMetadataFilters": {"notEquals": {"use_case": "other"}},
        }
    )
    records, report = records_from_logs(objects.items(), config, teacher_model_id="m")
    assert [(r.messages[0].text, r.answer) for r in records] == [("q1", "A:q1")]
    assert report.filtered_out == 1


def test_writer_flushes_when_full_and_on_close(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    writer = InvocationLogWriter(lambda: store, "s3://logs/inv", flush_records=2, flush_seconds=60)
    now = datetime.now(UTC)
    writer.add(_rec("1", "r", now))
    assert store.list("s3://logs/") == []
    writer.add(_rec("2", "r", now))
    assert len(store.list("s3://logs/")) == 1
    writer.add(_rec("3", "r", now))
    writer.close()
    assert writer.written == 3 and len(store.list("s3://logs/")) == 2


def test_failed_write_keeps_the_records(tmp_path: Path) -> None:
    class Flaky:
        calls = 0

        def put_bytes(self, uri: str, data: bytes) -> None:
            Flaky.calls += 1
            if Flaky.calls == 1:
                raise OSError("disk full")

    writer = InvocationLogWriter(Flaky, "s3://logs/inv", flush_records=100)
    writer.add(_rec("1", "r", datetime.now(UTC)))
    with pytest.raises(OSError):
        writer.flush()
    assert writer.flush() == 1 and writer.written == 1


def test_running_writer_flushes_full_batches_off_the_request_thread(tmp_path: Path) -> None:
    import time

    store = LocalObjectStore(tmp_path)
    writer = InvocationLogWriter(lambda: store, "s3://logs/inv", flush_records=2, flush_seconds=60)
    writer.start()
    now = datetime.now(UTC)
    writer.add(_rec("1", "r", now))
    writer.add(_rec("2", "r", now))  # wakes the thread; returns at once
    deadline = time.monotonic() + 5
    while writer.written < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.written == 2
    writer.add(_rec("3", "r", now))
    writer.close()
    assert writer.written == 3 and len(store.list("s3://logs/")) == 2


def _read_back(store: LocalObjectStore) -> list[str]:
    from stillhouse.sources.invocation_logs import read_invocation_logs

    config = InvocationLogsConfig.model_validate(
        {"usePromptResponse": True, "invocationLogSource": {"s3Uri": "s3://logs/inv/"}}
    )
    records, report = read_invocation_logs(config, teacher_model_id="m", store=store)
    assert not report.problems
    return [r.messages[0].text for r in records]


def test_each_record_is_on_disk_when_add_returns(tmp_path: Path) -> None:
    """A writer that dies before any flush (kill -9) loses nothing: the next one stores its records."""
    store = LocalObjectStore(tmp_path / "s3")
    wal = tmp_path / "wal"
    crashed = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
    now = datetime.now(UTC)
    for i in range(5):
        crashed.add(_rec(f"q{i}", "r", now))
    assert store.list("s3://logs/") == [] and len(list(wal.iterdir())) == 1
    crashed._wal._file.close()  # type: ignore[union-attr]  # the process is gone: its lock with it

    restarted = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
    restarted.start()
    try:
        assert restarted.written == 5 and list(wal.iterdir()) == []
        assert _read_back(store) == [f"q{i}" for i in range(5)]
    finally:
        restarted.close()


def test_flush_removes_the_segment_only_once_stored(tmp_path: Path) -> None:
    class Flaky:
        fail = True

        def put_bytes(self, uri: str, data: bytes) -> None:
            if Flaky.fail:
                raise OSError("store down")

    wal = tmp_path / "wal"
    writer = InvocationLogWriter(Flaky, "s3://logs/inv", wal_dir=wal, flush_records=100)
    writer.add(_rec("1", "r", datetime.now(UTC)))
    with pytest.raises(OSError):
        writer.flush()
    assert len(list(wal.iterdir())) == 1  # still protected
    writer.add(_rec("2", "r", datetime.now(UTC)))  # a new segment; the old one waits its turn
    Flaky.fail = False
    assert writer.flush() == 2 and list(wal.iterdir()) == []
    writer.close()


def test_recovering_a_segment_twice_writes_no_duplicates(tmp_path: Path) -> None:
    """A crash between the store write and the segment's removal: the rewrite hits the same key."""
    import shutil

    store = LocalObjectStore(tmp_path / "s3")
    wal, saved = tmp_path / "wal", tmp_path / "saved"
    first = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
    first.add(_rec("once", "r", datetime.now(UTC)))
    first._wal._file.close()  # type: ignore[union-attr]
    shutil.copytree(wal, saved)
    for _ in range(2):
        again = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
        again.start()
        again.close()
        shutil.copytree(saved, wal, dirs_exist_ok=True)
    assert _read_back(store) == ["once"]


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    from stillhouse.serve.log_wal import read_segment

    segment = tmp_path / "x.wal.jsonl"
    segment.write_text(_rec("whole", "r", datetime.now(UTC)).to_json_line() + '\n{"schemaType": "Mo')
    assert [r.input.inputBodyJson["messages"][0]["content"][0]["text"] for r in read_segment(segment)] == [
        "whole"
    ]


def test_a_live_writers_segment_is_not_replayed_by_another(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "s3")
    wal = tmp_path / "wal"
    live = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
    live.add(_rec("mine", "r", datetime.now(UTC)))
    other = InvocationLogWriter(lambda: store, "s3://logs/inv", wal_dir=wal, flush_records=100)
    assert other.recover() == 0
    live.close()
    assert _read_back(store) == ["mine"]
