"""The invocation-log writer: every runtime call becomes one Bedrock-shaped ``ModelInvocationLog``.

Records are buffered and written as gzipped JSON-lines objects under
``<prefix>/YYYY/MM/DD/HH/<time>_<id>.json.gz`` in the object store (Bedrock's layout), flushed when
``flush_records`` are waiting, every ``flush_seconds``, and on shutdown. Building and encoding a
batch is pure; only :meth:`InvocationLogWriter.flush` touches the store. The record type and the
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
from typing import Any, Protocol

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
    """Buffers records and writes them to ``s3://bucket/prefix`` in the object store."""

    def __init__(
        self,
        store_factory: Callable[[], PutStore],
        uri: str,
        *,
        flush_records: int = 64,
        flush_seconds: float = 5.0,
    ) -> None:
        from stillhouse.sources.objectstore import parse_s3_prefix

        self._bucket, self._prefix = parse_s3_prefix(uri)
        self._store_factory = store_factory
        self._store: PutStore | None = None
        self._flush_records = flush_records
        self._flush_seconds = flush_seconds
        self._buffer: list[InvocationLogRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0

    @property
    def uri(self) -> str:
        return f"s3://{self._bucket}/{self._prefix}"

    def add(self, record: InvocationLogRecord) -> None:
        """Queue one record. A full batch wakes the flush thread (the request never waits on the
        store); without a running thread, the caller's thread writes it."""
        with self._lock:
            self._buffer.append(record)
            full = len(self._buffer) >= self._flush_records
        if full and self._thread is not None:
            self._wake.set()
        elif full:
            self.flush()

    def flush(self) -> int:
        """Write everything buffered; returns how many records were written."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        with self._write_lock:
            if self._store is None:
                self._store = self._store_factory()
            objects = encode_batch(batch, self._prefix, batch_id=uuid.uuid4().hex[:12])
            try:
                for key, data in objects.items():
                    self._store.put_bytes(f"s3://{self._bucket}/{key}", data)
            except Exception:
                with self._lock:  # keep the records: the next flush tries again
                    self._buffer = batch + self._buffer
                raise
            self.written += len(batch)
        return len(batch)

    def start(self) -> None:
        """Flush every ``flush_seconds`` on a daemon thread until :meth:`close`."""
        if self._thread is not None:
            return

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
