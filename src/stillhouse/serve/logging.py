"""The invocation-log writer: every runtime call becomes one Bedrock-shaped ``ModelInvocationLog``.

Records are batched and written as gzipped JSON-lines objects under
``<prefix>/YYYY/MM/DD/HH/<time>_<id>.json.gz`` in the object store (Bedrock's layout), flushed when
``flush_records`` are waiting, every ``flush_seconds``, and on shutdown. With a write-ahead folder
(the server always has one) each record is also appended and fsynced there before :meth:`add`
returns, so a call's log survives a crash; start-up stores what a crashed process left
(:mod:`stillhouse.serve.log_wal`). Building and encoding a batch is pure. The record type and the
reader belong to :mod:`stillhouse.sources.invocation_logs`.
"""

from __future__ import annotations

import gzip
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from stillhouse.serve.log_wal import WriteAheadLog, read_segment, segment_batch_id
from stillhouse.sources.invocation_logs import InvocationLogRecord, LogIdentity, LogInput, LogOutput

log = logging.getLogger(__name__)


class PutStore(Protocol):
    """The one object-store call the writer needs."""

    def put_bytes(self, uri: str, data: bytes) -> Any: ...


def build_record(
    *,
    operation: str,
    model_id: str,
    request_metadata: dict[str, str] | None,
    input_body: Any,
    output_body: Any | None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    error_code: str | None = None,
    account_id: str = "000000000000",
    region: str = "us-east-1",
    identity: str | None = None,
    at: datetime | None = None,
) -> InvocationLogRecord:
    """One log record (pure). ``output_body`` is ``None`` for a failed call, which has ``error_code``."""
    return InvocationLogRecord(
        timestamp=at or datetime.now(UTC),
        accountId=account_id,
        identity=LogIdentity(arn=identity) if identity else None,
        region=region,
        requestId=str(uuid.uuid4()),
        operation=operation,  # type: ignore[arg-type]
        modelId=model_id,
        requestMetadata=dict(request_metadata or {}),
        input=LogInput(inputBodyJson=input_body, inputTokenCount=input_tokens),
        output=None
        if output_body is None
        else LogOutput(outputBodyJson=output_body, outputTokenCount=output_tokens),
        errorCode=error_code,
    )


def hour_prefix(at: datetime) -> str:
    """``YYYY/MM/DD/HH`` of a UTC timestamp."""
    return at.astimezone(UTC).strftime("%Y/%m/%d/%H")


def encode_batch(records: list[InvocationLogRecord], prefix: str, *, batch_id: str) -> dict[str, bytes]:
    """Gzipped JSON-lines objects, one per hour the records fall in, keyed under ``prefix``."""
    by_hour: dict[str, list[InvocationLogRecord]] = defaultdict(list)
    for rec in records:
        by_hour[hour_prefix(rec.timestamp)].append(rec)
    out = {}
    for hour, recs in by_hour.items():
        stamp = min(r.timestamp for r in recs).astimezone(UTC).strftime("%Y%m%dT%H%M%S")
        key = "/".join(p for p in (prefix.strip("/"), hour, f"{stamp}_{batch_id}.json.gz") if p)
        lines = "".join(r.to_json_line() + "\n" for r in recs)
        out[key] = gzip.compress(lines.encode("utf-8"), mtime=0)
    return out


class InvocationLogWriter:
    """Batches records and writes them to ``s3://bucket/prefix`` in the object store.

    ``wal_dir``: where each record is made durable before :meth:`add` returns (None: memory only,
    for tests and tools that accept losing a batch on a crash).
    """

    def __init__(
        self,
        store_factory: Callable[[], PutStore],
        uri: str,
        *,
        wal_dir: Path | None = None,
        flush_records: int = 64,
        flush_seconds: float = 5.0,
    ) -> None:
        from stillhouse.sources.objectstore import parse_s3_prefix

        self._bucket, self._prefix = parse_s3_prefix(uri)
        self._store_factory = store_factory
        self._store: PutStore | None = None
        self._flush_records = flush_records
        self._flush_seconds = flush_seconds
        self._wal = WriteAheadLog(wal_dir) if wal_dir is not None else None
        self._buffer: list[InvocationLogRecord] = []
        # Closed batches waiting for the store, oldest first, each with its write-ahead segment.
        self._pending: list[tuple[Path | None, list[InvocationLogRecord]]] = []
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()  # retarget holds it across a flush
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    @property
    def uri(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def retarget(self, uri: str) -> None:
        """Log to ``uri`` from now on (a new logging configuration). What is buffered is stored at the
        old destination first, so every record lands where the configuration at its call said."""
        from stillhouse.sources.objectstore import parse_s3_prefix

        bucket, prefix = parse_s3_prefix(uri)
        if (bucket, prefix) == (self._bucket, self._prefix):
            return
        with self._write_lock:
            try:
                self.flush()
            except Exception:  # the store is down: the queued records follow the new destination
                log.exception("storing invocation logs before changing their destination failed")
            with self._lock:
                self._bucket, self._prefix = bucket, prefix

    def add(self, record: InvocationLogRecord) -> None:
        """Queue one record, durable on the write-ahead file when this returns. A full batch wakes
        the flush thread (the request never waits on the store); without a running thread, the
        caller's thread writes it."""
        with self._lock:
            number = self._wal.append(record) if self._wal is not None else 0
            self._buffer.append(record)
            full = len(self._buffer) >= self._flush_records
        if self._wal is not None:
            self._wal.sync(number)
        if full and self._thread is not None:
            self._wake.set()
        elif full:
            self.flush()

    def flush(self) -> int:
        """Write everything buffered (and anything a failed flush left); returns how many records
        were written. On a store failure the records stay queued and the error propagates."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            if batch:
                segment = self._wal.rotate() if self._wal is not None else None
                self._pending.append((segment, batch))
        with self._write_lock:
            return self._store_pending()

    def recover(self) -> int:
        """Queue the records of segments a previous process left (it died before storing them)."""
        if self._wal is None:
            return 0
        found = 0
        for path in self._wal.leftovers():
            records = read_segment(path)
            if not records:
                path.unlink(missing_ok=True)
                continue
            with self._lock:
                self._pending.append((path, records))
            found += len(records)
        return found

    def _store_pending(self) -> int:
        written = 0
        while True:
            with self._lock:
                if not self._pending:
                    return written
                segment, batch = self._pending[0]
            if self._store is None:
                self._store = self._store_factory()
            batch_id = segment_batch_id(segment) if segment is not None else uuid.uuid4().hex[:12]
            for key, data in encode_batch(batch, self._prefix, batch_id=batch_id).items():
                self._store.put_bytes(f"s3://{self._bucket}/{key}", data)
            if segment is not None:  # only once stored: the store now holds what it protected
                segment.unlink(missing_ok=True)
            with self._lock:
                self._pending.pop(0)
            self.written += len(batch)
            written += len(batch)

    def start(self) -> None:
        """Store what a crashed process left, then flush every ``flush_seconds`` on a daemon thread
        until :meth:`close`."""
        if self._thread is not None:
            return
        recovered = self.recover()
        if recovered:
            log.info("storing %d invocation-log record(s) left by an earlier process", recovered)
            try:
                self.flush()
            except Exception:  # the store may be briefly unavailable; the thread retries
                log.exception("storing recovered invocation logs failed; will retry")

        def loop() -> None:
            while not self._stop.is_set():
                self._wake.wait(self._flush_seconds)
                self._wake.clear()
                try:
                    self.flush()
                except Exception:  # the store may be briefly unavailable; records stay buffered
                    log.exception("writing invocation logs failed; will retry")

        self._thread = threading.Thread(target=loop, name="invocation-log-flush", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the timer and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self._flush_seconds + 1)
        self.flush()
        with self._lock:
            if self._wal is not None:
                self._wal.close()
