"""Validation throughput and memory on a full-size (15,000-record) distillation dataset.

    python benchmarks/bench_validate.py [--records 15000] [--repeat 3]

Prints: file size, read-only throughput (records/s), validation throughput (records/s), write
throughput, and the process's peak RSS. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from stillhouse.records.jsonl import parse_record, write_records
from stillhouse.sources.dataset import read_dataset
from stillhouse.sources.files import iter_source_lines

SYSTEM = (
    "You are the intent router of a video search engine. Return JSON with visual, audio, transcription, "
    "metadata weights summing to 1.0 and a short reasoning."
)
WORDS = [
    "goal",
    "crowd",
    "cheering",
    "interview",
    "rain",
    "city",
    "night",
    "drone",
    "sunset",
    "speech",
    "guitar",
    "trailer",
    "cat",
    "news",
]


def make_dataset(path: Path, count: int, seed: int = 0) -> None:
    """A realistic mix: 2/3 prompt-only, 1/3 labelled pairs, every record with a system prompt."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            query = " ".join(rng.choices(WORDS, k=rng.randint(3, 25)))
            record: dict = {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": SYSTEM}],
                "messages": [{"role": "user", "content": [{"text": f"{query} #{i}"}]}],
            }
            if i % 3 == 0:
                answer = {
                    "visual": 0.4,
                    "audio": 0.2,
                    "transcription": 0.3,
                    "metadata": 0.1,
                    "reasoning": query,
                }
                record["messages"].append({"role": "assistant", "content": [{"text": json.dumps(answer)}]})
            out.write(json.dumps(record) + "\n")


def _best_of(repeat: int, fn) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _parse_only(path: Path) -> int:
    """Stream and parse every line, keeping nothing: the cost of the shape check alone."""
    return sum(1 for s in iter_source_lines(path) if s.raw is not None and parse_record(s.raw, s.line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=15_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dataset.jsonl"
        make_dataset(path, args.records)
        size_mb = path.stat().st_size / 1e6
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        read_s, _ = _best_of(args.repeat, lambda: _parse_only(path))
        rss_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        validate_s, (records, report) = _best_of(args.repeat, lambda: read_dataset(path, "distillation"))
        write_s, _ = _best_of(args.repeat, lambda: write_records(Path(tmp) / "out.jsonl", records))
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.records
    print(f"records            {n} ({size_mb:.1f} MB of JSONL)")
    print(f"valid / usable     {report.valid} / {report.usable}")
    print(f"read (parse only)  {n / read_s:,.0f} records/s  ({read_s:.2f} s, best of {args.repeat})")
    print(f"validate           {n / validate_s:,.0f} records/s  ({validate_s:.2f} s, best of {args.repeat})")
    print(f"write              {n / write_s:,.0f} records/s  ({write_s:.2f} s)")
    print(
        f"peak RSS           {rss_before:.0f} MiB before reading, {rss_read:.0f} MiB after streaming reads,"
    )
    print(f"                   {rss_peak:.0f} MiB after validation (which keeps every valid record)")


if __name__ == "__main__":
    main()
