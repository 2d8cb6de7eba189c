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
