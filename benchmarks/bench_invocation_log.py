"""What making each call's invocation log durable costs per call, three ways.

    python benchmarks/bench_invocation_log.py [--calls 500] [--threads 8] [--dir /some/disk]

- ``memory``: the old writer, records batched in memory only (not durable: lost on ``kill -9``);
- ``wal``: the server's writer, each record appended and fsynced to the write-ahead file, gzip
  batches to the store as before;
- ``sync-object``: each record written at once as its own gzip object, fsynced (the other way to be
  durable: one store object per call).

Each is timed sequentially (per-call latency, p50/p95/mean) and with ``--threads`` callers at once
(calls/s: the write-ahead appends share one lock). ``--dir`` picks the disk (fsync cost is the disk's).
Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from stillhouse.serve.logging import InvocationLogWriter, build_record, encode_batch
from stillhouse.sources.invocation_logs import InvocationLogRecord
from stillhouse.sources.objectstore import LocalObjectStore

ANSWER = '{"visual": 0.6, "audio": 0.1, "transcription": 0.1, "metadata": 0.2, "reasoning": "scenery"}'


def record(i: int) -> InvocationLogRecord:
    return build_record(
        operation="Converse",
        model_id="arn:aws:bedrock:us-east-1:000000000000:custom-model/router-abc",
        request_metadata={"use_case": "router"},
        input_body={"messages": [{"role": "user", "content": [{"text": f"sunset over mountains #{i}"}]}]},
        output_body={"output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}}},
        input_tokens=120,
        output_tokens=30,
    )


def sync_object_add(store: LocalObjectStore) -> Callable[[InvocationLogRecord], None]:
    def add(rec: InvocationLogRecord) -> None:
        for key, data in encode_batch([rec], "logs", batch_id=rec.requestId).items():
            uri = f"s3://bench/{key}"
            store.put_bytes(uri, data)
            with store.local_path(uri).open("rb") as handle:
                os.fsync(handle.fileno())

    return add


def ways(root: Path) -> dict[str, tuple[Callable[[InvocationLogRecord], None], Callable[[], None]]]:
    store = LocalObjectStore(root / "s3")
    memory = InvocationLogWriter(lambda: store, "s3://bench/memory", flush_records=64)
    wal = InvocationLogWriter(lambda: store, "s3://bench/wal", wal_dir=root / "wal", flush_records=64)
    return {
        "memory": (memory.add, memory.close),
        "wal": (wal.add, wal.close),
        "sync-object": (sync_object_add(store), lambda: None),
    }


def sequential(add: Callable[[InvocationLogRecord], None], calls: int) -> list[float]:
    records = [record(i) for i in range(calls)]
    times = []
    for rec in records:
        started = time.perf_counter()
        add(rec)
        times.append((time.perf_counter() - started) * 1e6)
    return times


def concurrent(add: Callable[[InvocationLogRecord], None], calls: int, threads: int) -> float:
    records = [record(i) for i in range(calls)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(add, records))
    return calls / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.calls} calls, records of {len(record(0).to_json_line())} bytes, in {tmp}")
        print(
            f"{'way':<12} {'p50 us':>9} {'p95 us':>9} {'mean us':>9} {f'{args.threads} threads calls/s':>22}"
        )
        for name, (add, close) in ways(Path(tmp) / "seq").items():
            times = sorted(sequential(add, args.calls))
            close()
            add2, close2 = ways(Path(tmp) / f"par-{name}")[name]
            rate = concurrent(add2, args.calls, args.threads)
            close2()
            p50, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
            print(f"{name:<12} {p50:>9.0f} {p95:>9.0f} {statistics.fmean(times):>9.0f} {rate:>22.0f}")
    print("at", datetime.now(UTC).isoformat(timespec="seconds"))


if __name__ == "__main__":
    main()
