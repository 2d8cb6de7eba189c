"""Local vs Ray: labelling, batch and search-ingest throughput, Ray's start-up and memory, the writer's commit
cost, and a model of a 15,000-prompt distillation and a 10,000-hour video ingest on N nodes.

    PYTHONPATH=src python benchmarks/bench_scale.py [--n 200] [--actors 2] [--teacher SPEC]

The teacher defaults to the tests' tiny random Llama (hf:, built in a temporary folder), so the
per-record figures are the executor's overhead around a cheap call; ``--teacher`` measures a real
one. The model's per-item costs for a real teacher and for video ingest are flags (defaults:
benchmarks/README.md's measured figures), since those runs take longer than this script.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib(include_children: bool) -> float:
    import psutil

    me = psutil.Process()
    procs = [me, *me.children(recursive=True)] if include_children else [me]
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def _records(n: int):
    from tests.conftest import prompt_record
    from tests.executors.helpers import prompts

    from stillhouse.records.schema import ConversationRecord

    return [ConversationRecord.model_validate(prompt_record(text)) for text in prompts(n)]


def _label(records, spec: str, folder: Path, executor=None) -> tuple[float, object]:
    from stillhouse.teacher.build import TeacherConfig, build_teacher
    from stillhouse.teacher.label import LabelConfig, label_records

    folder.mkdir(parents=True, exist_ok=True)
    config = TeacherConfig(model=spec, shots=0, embedder=None, cache=folder / "cache.sqlite", lazy=True)
    start = time.perf_counter()
    with build_teacher(config, [], None) as teacher:
        summary = label_records(
            records,
            teacher,
            LabelConfig(max_tokens=4, progress=False),
            out_path=folder / "out.jsonl",
            executor=executor,
        )
    return time.perf_counter() - start, summary


def _batch(n: int, spec: str, folder: Path, executor=None) -> float:
    from tests.batch.helpers import nova_input, record_line
    from tests.executors.helpers import prompts

    from stillhouse.batch.run import run_file
    from stillhouse.models.lazy import lazy_model
    from stillhouse.teacher.cache import RequestCache

    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "in.jsonl"
    source.write_text("".join(record_line(i, nova_input(t)) + "\n" for i, t in enumerate(prompts(n))))
    start = time.perf_counter()
    with RequestCache(folder / "cache.sqlite") as cache:
        run_file(source, lazy_model(spec), folder / "out.jsonl", cache=cache, executor=executor)
    return time.perf_counter() - start


def _writer_cost(n: int, folder: Path) -> float:
    """Seconds per record the driver spends committing: one cache entry and one fsynced output line."""
    from stillhouse.chat import Completion
    from stillhouse.teacher.cache import CacheEntry, RequestCache
    from stillhouse.teacher.records_io import JsonlAppender

    line = '{"schemaVersion":"bedrock-conversation-2024","messages":[' + '{"x":1},' * 20 + "{}]}"
    completion = Completion(text="a b c d", model="m", input_tokens=12, output_tokens=4)
    with RequestCache(folder / "w.sqlite") as cache, JsonlAppender(folder / "w.jsonl") as out:
        start = time.perf_counter()
        for i in range(n):
            cache.commit([CacheEntry(key=f"{i:064d}", teacher="m", completion=completion)])
            out.write(line)
        return (time.perf_counter() - start) / n


def _clips(count: int, folder: Path) -> list[Path]:
    """``count`` 15 s clips: a moving test pattern with a cut, espeak-ng speech over a quiet tone."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(count):
        speech, clip = folder / f"speech{i}.wav", folder / f"clip{i}.mp4"
        text = f"Clip number {i}. The red car drives to the coast, and the band plays a guitar solo."
        subprocess.run(["espeak-ng", "-w", str(speech), text], check=True)
        subprocess.run(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=s=320x180:r=25:d=8",
             "-f", "lavfi", "-i", "smptebars=s=320x180:r=25:d=7", "-i", str(speech), "-f", "lavfi", "-i",
             "sine=f=440:d=15", "-filter_complex",
             "[0][1]concat=n=2:v=1[v];[2]apad=whole_dur=15[s];[3]volume=0.05[t];[s][t]amix=inputs=2[a]",
             "-map", "[v]", "-map", "[a]", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
             "-t", "15", str(clip)],
            check=True,
        )  # fmt: skip
        speech.unlink()
        made.append(clip)
    return made


def _ingest(clips: list[Path], index: str, executor=None) -> tuple[float, float]:
    """Seconds and media seconds of one search ingest of ``clips`` (hashing embedder: the analysis)."""
    from stillhouse.search.config import IngestConfig
    from stillhouse.search.video.pipeline import ingest_videos

    start = time.perf_counter()
    report = ingest_videos(index, clips, index=IngestConfig(embedder="hashing"), executor=executor)
    return time.perf_counter() - start, report.media_seconds


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    import ray

    from stillhouse.executors import open_executor, parse_executor

    clips = _clips(args.ingest_clips, tmp / "clips")  # before lancedb's runtime starts (it warns on fork)
    spec = args.teacher or _tiny_teacher(tmp)
    records = _records(args.n)
    m: dict[str, float] = {"rss_driver_before": _rss_mib(False)}
    m["local_label_s"], summary = _label(records, spec, tmp / "local")
    m["calls"] = summary.teacher_calls
    m["local_batch_s"] = _batch(args.n, spec, tmp / "local-batch")
    os.environ["STILLHOUSE_HOME"] = str(tmp / "home")
    if clips:
        m["local_ingest_s"], m["media_s"] = _ingest(clips, "local")
    m["rss_driver_local"] = _rss_mib(False)
    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False, runtime_env=_env())
    m["ray_init_s"] = time.perf_counter() - start
    m["rss_ray_idle"] = _rss_mib(True)
    with open_executor(parse_executor("ray", actors=args.actors)) as executor, _PeakRss() as peak:
        m["ray_label_s"], _ = _label(records, spec, tmp / "ray", executor)
        m["rss_ray_busy"] = peak.mib
        m["ray_batch_s"] = _batch(args.n, spec, tmp / "ray-batch", executor)
        if clips:
            m["ray_ingest_s"], _ = _ingest(clips, "ray", executor)
        start = time.perf_counter()
        list(executor.map(_sleep_stage(), [0.0] * 2 * args.actors))
        m["actor_start_s"] = time.perf_counter() - start
        start = time.perf_counter()
        list(executor.map(_sleep_stage(), [0.0] * (2 * args.actors + args.dispatch)))
        m["dispatch_s"] = max(0.0, time.perf_counter() - start - m["actor_start_s"]) / args.dispatch
    m["writer_s_per_record"] = _writer_cost(args.n * 5, tmp)
    ray.shutdown()
    return m


def _tiny_teacher(tmp: Path) -> str:
    from tests.executors.helpers import save_word_llama

    return f"hf:{save_word_llama(tmp / 'teacher')}"


def _env() -> dict:
    return {
        "env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), "OMP_NUM_THREADS": "1"}
    }


def _sleep_stage():
    from stillhouse.executors import Stage

    return Stage(name="empty", local=time.sleep, worker=None, remote=_sleep_remote)


def _sleep_remote(_worker: object, seconds: float) -> None:
    time.sleep(seconds)


class _PeakRss:
    """The peak RSS of this process and its children (Ray's GCS, raylet, workers), sampled at 5 Hz."""

    def __enter__(self) -> _PeakRss:
        import threading

        self.mib, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.mib = max(self.mib, _rss_mib(True))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _model(m: dict[str, float], args: argparse.Namespace) -> list[str]:
    """A 15,000-prompt distillation and a 10,000-hour ingest on N nodes from the per-item costs."""
    # The driver's own time per record: committing it (cache entry, fsynced line) and dispatching it.
    writer = m["writer_s_per_record"] + m["dispatch_s"]
    label_item = args.teacher_s  # one teacher answer on one actor (a real teacher, README's figure)
    lines = [
        "",
        f"model: driver {writer * 1e3:.2f} ms per record (commit {m['writer_s_per_record'] * 1e3:.2f} + "
        f"dispatch {m['dispatch_s'] * 1e3:.2f}), teacher {label_item:.2f} s/answer, "
        f"{args.actors_per_node} actors/node, ingest {args.ingest_cpu_s_per_hour:.0f} CPU-s per "
        f"video hour on {args.cores_per_node} cores/node, index write {args.index_s_per_hour:.2f} s/hour",
    ]
    lines.append(
        f"{'nodes':>6} {'distil 15k (h)':>15} {'bottleneck':>12} {'ingest 10k h (h)':>17} {'bottleneck':>12}"
    )
    for nodes in (1, 2, 10, 50, 100, 600):
        actors = nodes * args.actors_per_node
        compute = 15000 * label_item / actors
        single = 15000 * writer
        distil = max(compute, single) + m["ray_init_s"] + m["actor_start_s"]
        ingest_compute = 10000 * args.ingest_cpu_s_per_hour / (nodes * args.cores_per_node)
        ingest_writer = 10000 * args.index_s_per_hour
        ingest = max(ingest_compute, ingest_writer)
        lines.append(
            f"{nodes:>6} {distil / 3600:>15.2f} {'driver' if single > compute else 'teacher':>12} "
            f"{ingest / 3600:>17.2f} {'writer' if ingest_writer > ingest_compute else 'decode+ASR':>12}"
        )
    label_nodes = label_item / (writer * args.actors_per_node)
    ingest_nodes = args.ingest_cpu_s_per_hour / (args.index_s_per_hour * args.cores_per_node)
    lines.append(
        f"the single driver saturates at ~{label_nodes:,.0f} nodes for labelling (1/{writer * 1e3:.2f} ms = "
        f"{1 / writer:,.0f} records/s) and ~{ingest_nodes:,.0f} nodes for ingest"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="prompts (and batch records) per run")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...)")
    parser.add_argument("--teacher", help="teacher spec (default: the tests' tiny random Llama)")
    parser.add_argument(
        "--teacher-s", type=float, default=4.19, help="seconds per real teacher answer on 2 cores (model)"
    )
    parser.add_argument("--actors-per-node", type=int, default=4, help="teacher actors of 2 cores each")
    parser.add_argument("--dispatch", type=int, default=400, help="no-op items timing the driver's dispatch")
    parser.add_argument("--cores-per-node", type=int, default=8)
    parser.add_argument("--ingest-clips", type=int, default=4, help="15 s clips search-ingested (0: none)")
    parser.add_argument("--ingest-cpu-s-per-hour", type=float, default=219.3, help="CPU-s per video hour")
    parser.add_argument(
        "--index-s-per-hour", type=float, default=0.84, help="index write seconds per video hour"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        m = measure(args, Path(tmp))
    n, calls = args.n, m["calls"]
    print(
        f"load average at start {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}; {n} prompts, {calls:.0f} teacher calls"
    )
    print(f"{'stage':<22} {'local rec/s':>12} {'ray rec/s':>10} {'ray / local':>12}")
    for stage, local, ray_s in (
        ("labelling", m["local_label_s"], m["ray_label_s"]),
        ("batch", m["local_batch_s"], m["ray_batch_s"]),
    ):
        print(f"{stage:<22} {n / local:>12.1f} {n / ray_s:>10.1f} {local / ray_s:>12.2f}")
    if "media_s" in m:
        local, ray_s = m["media_s"] / m["local_ingest_s"], m["media_s"] / m["ray_ingest_s"]
        print(
            f"{'ingest (media s/s)':<22} {local:>12.1f} {ray_s:>10.1f} {local and ray_s / local:>12.2f}"
            f"   ({args.ingest_clips} clips, {m['media_s']:.0f} s; model loads included, on Ray once per actor)"
        )
    print(
        f"ray.init {m['ray_init_s']:.1f} s; {args.actors} fresh actors' first calls {m['actor_start_s']:.1f} s"
    )
    print(
        f"RSS: driver {m['rss_driver_before']:.0f} MiB before, {m['rss_driver_local']:.0f} after the local runs; "
        f"driver+Ray idle {m['rss_ray_idle']:.0f} MiB, peak while labelling on {args.actors} actors {m['rss_ray_busy']:.0f} MiB"
    )
    print(f"writer: {m['writer_s_per_record'] * 1e3:.2f} ms per record (cache entry + fsynced line)")
    print(f"dispatch: {m['dispatch_s'] * 1e3:.2f} ms per no-op item through {args.actors} actors")
    print("\n".join(_model(m, args)))


if __name__ == "__main__":
    main()
