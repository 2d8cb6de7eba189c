"""Search quality and speed on a generated corpus with known ground truth per modality.

    python benchmarks/bench_search.py [--segments 10000] [--queries 200] [--embedder hashing] \
        [--router SPEC] [--engine lancedb] [--student SPEC] [--distractors 8] [--duplicates 2]

Each segment draws its visual, audio, transcription and metadata text from separate slots of the
router synthesizer's vocabularies (``tasks/video_router/vocab.py``), each channel present with
probability 0.85, and with probability 0.5 a channel also mentions a phrase of *another* modality's
vocabulary (a poster of a person in the picture, a spoken "did you hear the piano"), so a query's
words occur in the wrong channels of other segments and routing has something to decide. A query
targets one segment through one modality (80%) or two (20%, oracle weights 0.5 / 0.5); every
segment whose queried channels carry the same slot values is relevant. Each query also gets planted
hard negatives (:func:`plant`): ``--distractors`` segments whose other channels mention all its
values and ``--duplicates`` copies of its target differing only in the queried channels
(benchmarks/README says exactly how the corpus is built).

Strategies: routed (the router's weights, end to end), rrf (routed weights, weighted RRF), uniform,
combined (one embedding of all channels, no routing) and oracle (the ground-truth modality weights).
Printed: Recall@1/5/10 (share of queries with a relevant segment in the top k), MRR, nDCG@10 (binary
relevance), latency p50/p95 split into route and retrieve (one query at a time), add-segments
throughput, index size on disk and peak memory. Nothing is asserted.

Without ``--router`` a fast router is fitted here on the packaged golden set plus synthesized
queries weakly labelled by intent (as the demo does, MiniLM through torch). ``--embedder hashing``
(default) keeps corpus generation to seconds on 2 shared cores; ``--embedder minilm`` embeds about
100 texts/s there (45k texts at 10k segments). ``--student SPEC`` also times the generative student
as router on 10 queries.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from stillhouse.tasks.video_router import vocab

PER_VIDEO = 6
SEG_S = 10.0
PRESENT = 0.85
CROSSOVER = 0.5
MODS = ("visual", "audio", "transcription", "metadata")
# The slots of each modality that a query names (and that decide relevance).
KEYS = {
    "visual": ("subject", "action", "place"),
    "audio": ("sound", "style", "instrument"),
    "transcription": ("speaker", "topic", "quote"),
    "metadata": ("person", "channel", "genre"),
}
POOLS = {
    "subject": vocab.SUBJECTS, "action": vocab.ACTIONS, "place": vocab.PLACES, "colour": vocab.COLOURS,
    "object": vocab.OBJECTS, "sound": vocab.SOUNDS, "style": vocab.MUSIC_STYLES,
    "instrument": vocab.INSTRUMENTS, "speaker": vocab.SPEAKERS, "topic": vocab.TOPICS,
    "quote": vocab.QUOTES, "person": vocab.PEOPLE, "channel": vocab.CHANNELS, "genre": vocab.GENRES,
    "mood": vocab.MOODS, "camera": vocab.CAMERA,
}  # fmt: skip
CROSS = {  # how a channel mentions another modality's words
    "visual": lambda s: f"a poster of {s['person']} and a {s['instrument']} on the wall",
    "audio": lambda s: f"muffled voice of {s['speaker']}",
    "transcription": lambda s: f"did you hear {s['sound']}? look at {s['subject']} {s['place']}",
    "metadata": lambda s: f"{s['subject']} {s['action']}",
}
QUERY = {
    "visual": lambda s: f"{s['subject']} {s['action']} {s['place']}",
    "audio": lambda s: f"the sound of {s['sound']} with {s['style']} {s['instrument']} music",
    "transcription": lambda s: f'{s["speaker"]} says "{s["quote"]}" about {s["topic"]}',
    "metadata": lambda s: f"{s['genre']} video from {s['channel']} featuring {s['person']}",
}


def make_segment(rng: random.Random, n: int) -> tuple[dict, dict[str, tuple[str, ...]]]:
    """One segment (JSON-ready) and the slot values of the channels it has."""
    s = {slot: rng.choice(pool) for slot, pool in POOLS.items()}
    text = {
        "visual": f"{s['subject']} {s['action']} {s['place']}, a {s['colour']} {s['object']}",
        "audio": f"{s['sound']}, {s['style']} {s['instrument']} {rng.choice(vocab.MUSIC_VERBS)}",
        "transcription": f'{s["speaker"]} talks about {s["topic"]}. "{s["quote"]}"',
    }
    meta = {"people": s["person"], "channel": s["channel"], "genre": s["genre"], "mood": s["mood"]}
    have = [m for m in MODS if rng.random() < PRESENT] or [rng.choice(MODS)]
    seg: dict = {
        "video_id": f"v{n // PER_VIDEO}",
        "start": (n % PER_VIDEO) * SEG_S,
        "end": (n % PER_VIDEO + 1) * SEG_S,
    }
    for m in have:
        extra = CROSS[m](s) if rng.random() < CROSSOVER else ""
        if m == "metadata":
            seg["metadata"] = {**meta, "title": extra or f"{s['camera']} shot"}
        else:
            seg[m] = f"{text[m]}. {extra}" if extra else text[m]
    return seg, {m: tuple(s[k] for k in KEYS[m]) for m in have}


# Short queries name two slots of a modality (``SHORT_KEYS``) instead of three: less specific, so
# more segments are relevant and the other channels' mentions compete harder.
SHORT = {
    "visual": lambda s: f"{s['subject']} {s['place']}",
    "audio": lambda s: f"{s['sound']} and {s['instrument']}",
    "transcription": lambda s: f'{s["speaker"]} says "{s["quote"]}"',
    "metadata": lambda s: f"{s['genre']} from {s['channel']}",
}
SHORT_KEYS = {"visual": (0, 2), "audio": (0, 2), "transcription": (0, 2), "metadata": (2, 1)}


def make_queries(rng: random.Random, slots: list[dict], n: int, short: float = 0.0) -> list[dict]:
    """Queries with their target, queried slots and oracle weights; ``short`` of them short.
    :func:`relevant` fills in their relevant segments once the corpus is complete."""
    out = []
    while len(out) < n:
        target = rng.randrange(len(slots))
        have = list(slots[target])
        mods = rng.sample(have, 2) if len(have) > 1 and rng.random() < 0.2 else [rng.choice(have)]
        values = {m: dict(zip(KEYS[m], slots[target][m], strict=True)) for m in mods}
        brief = short > 0 and rng.random() < short  # no draw at 0: the default queries stay as they were
        keys = {m: SHORT_KEYS[m] if brief else tuple(range(3)) for m in mods}
        text = " and ".join((SHORT if brief else QUERY)[m](values[m]) for m in mods)
        oracle = {m: (1.0 / len(mods) if m in mods else 0.0) for m in MODS}
        out.append({"text": text, "target": target, "keys": keys, "oracle": oracle, "mods": mods})
    return out


def relevant(query: dict, slots: list[dict], lookup: dict) -> set[int]:
    """Every segment whose queried channels carry the target's values in the queried slots
    (``lookup`` memoises, per modality and slots, which segments carry which values)."""
    keys, target = query["keys"], slots[query["target"]]
    found = None
    for m in query["mods"]:
        if (m, keys[m]) not in lookup:
            table: dict[tuple, set[int]] = {}
            for i, seg in enumerate(slots):
                if m in seg:
                    table.setdefault(tuple(seg[m][j] for j in keys[m]), set()).add(i)
            lookup[m, keys[m]] = table
        ids = lookup[m, keys[m]].get(tuple(target[m][j] for j in keys[m]), set())
        found = ids if found is None else found & ids
    return set(found or ())


# How one channel mentions another modality's values (the planted distractors): a title naming a
# sound, a transcript describing a scene, a caption of a screen showing a quote.
PHRASE = {
    "visual": lambda v: f"{v['subject']} {v['action']} {v['place']}",
    "audio": lambda v: f"{v['style']} {v['instrument']} music and {v['sound']}",
    "transcription": lambda v: f'{v["speaker"]} saying "{v["quote"]}" about {v["topic"]}',
    "metadata": lambda v: f"{v['genre']} from {v['channel']} featuring {v['person']}",
}
MENTION = {
    "visual": lambda p: f"a screen showing {p}",
    "audio": lambda p: f"a voice describing {p}",
    "transcription": lambda p: f"let me tell you about {p}",
    "metadata": lambda p: p,  # the title
}


def _mention(seg: dict, channel: str, phrase: str) -> None:
    """Add ``phrase`` to ``channel`` of ``seg`` (creating the channel if the segment lacks it)."""
    if channel == "metadata":
        meta = seg.setdefault("metadata", {})
        meta["title"] = f"{meta['title']} | {phrase}" if meta.get("title") else phrase
    else:
        seg[channel] = (
            f"{seg[channel]}. {MENTION[channel](phrase)}" if seg.get(channel) else MENTION[channel](phrase)
        )


def plant(
    rng: random.Random,
    segments: list[dict],
    slots: list[dict],
    query: dict,
    distractors: int,
    duplicates: int,
) -> None:
    """Append a query's hard negatives to the corpus (ids continue from the end):

    - ``distractors`` segments whose *other* channels (a non-empty random subset of the modalities
      the query does not target) mention all the query's values, while their own queried channels
      carry other values: only routing to the queried channel tells them from the target;
    - ``duplicates`` copies of the target that differ only in the queried channels (a re-upload or
      the same scene with another sound), which a single combined embedding can hardly separate.
    """
    target, mods = slots[query["target"]], query["mods"]
    values = {m: dict(zip(KEYS[m], target[m], strict=True)) for m in mods}
    others = [m for m in MODS if m not in mods]
    for _ in range(distractors):
        seg, have = _fresh(rng, len(segments), mods, target)
        for channel in rng.sample(others, rng.randint(1, len(others))):
            for m in mods:
                _mention(seg, channel, PHRASE[m](values[m]))
            have.setdefault(channel, (None, None, None))  # a channel the mention created has no values
        segments.append(seg)
        slots.append(have)
    for _ in range(duplicates):
        fresh, have = _fresh(rng, len(segments), mods, target)
        seg = {
            **copy.deepcopy(segments[query["target"]]),
            **{k: fresh[k] for k in ("video_id", "start", "end")},
        }
        seg.update({m: fresh[m] for m in mods})
        segments.append(seg)
        slots.append({**target, **{m: have[m] for m in mods}})


def _fresh(rng: random.Random, n: int, mods: list[str], target: dict) -> tuple[dict, dict]:
    """A new random segment with every queried channel present and unlike the target's."""
    while True:
        seg, have = make_segment(rng, n)
        if all(m in have and have[m] != target[m] for m in mods):
            return seg, have


def build_corpus(rng: random.Random, args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    """``args.segments`` segments: random background segments, then each query's planted hard
    negatives (:func:`plant`) at the end; every query's relevant set computed over all of them."""
    planted = args.queries * (args.distractors + args.duplicates)
    if planted >= args.segments:
        raise SystemExit(f"{args.segments} segments cannot hold {planted} planted ones: use more segments")
    segments, slots = [], []
    for n in range(args.segments - planted):
        seg, have = make_segment(rng, n)
        segments.append(seg)
        slots.append(have)
    queries = make_queries(rng, slots, args.queries, args.short)
    for q in queries:
        plant(rng, segments, slots, q, args.distractors, args.duplicates)
    lookup: dict = {}
    for q in queries:
        q["relevant"] = relevant(q, slots, lookup)
    return segments, queries


def fit_router(folder: Path, n_weak: int) -> Path:
    """A fast router on the golden set plus weakly labelled synthesized queries (as the demo fits it)."""
    import numpy as np

    from stillhouse.router.fast_router import FastRouter
    from stillhouse.router.intents import intent_prior, weak_targets
    from stillhouse.router.trainer import fit, teacher_targets, training_pairs
    from stillhouse.tasks.video_router.golden import load_golden
    from stillhouse.tasks.video_router.synth import SynthConfig, synthesize

    queries, weights, _ = training_pairs(load_golden())
    targets = teacher_targets(weights)
    weak_q, weak_rows = weak_targets(synthesize(SynthConfig(n=n_weak, seed=11)), intent_prior(targets))
    router = FastRouter.from_spec("minilm-gguf")  # the demo's router encoder
    fit(router, [*queries, *weak_q], np.vstack([targets, weak_rows]))
    return router.save(folder)


def metrics(ranked: list[list[int]], queries: list[dict]) -> dict[str, float]:
    out = {"R@1": 0.0, "R@5": 0.0, "R@10": 0.0, "MRR": 0.0, "nDCG@10": 0.0}
    for ids, q in zip(ranked, queries, strict=True):
        rel = q["relevant"]
        hits = [i in rel for i in ids]
        for k in (1, 5, 10):
            out[f"R@{k}"] += any(hits[:k])
        first = next((r for r, h in enumerate(hits, start=1) if h), None)
        out["MRR"] += 1.0 / first if first else 0.0
        dcg = sum(1.0 / math.log2(r + 2) for r, h in enumerate(hits[:10]) if h)
        ideal = sum(1.0 / math.log2(r + 2) for r in range(min(10, len(rel))))
        out["nDCG@10"] += dcg / ideal if ideal else 0.0
    return {k: 100.0 * v / len(queries) if k.startswith("R@") else v / len(queries) for k, v in out.items()}


def pct(values: list[float], q: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]
    )


def run_strategy(
    engine,
    index: str,
    queries: list[dict],
    name: str,
    routed: list[dict] | None,
    router: str | None,
    fusion_options: dict | None = None,
):  # type: ignore[no-untyped-def]
    from stillhouse.search.engine import SearchRequest

    ranked, timings, weights = [], [], []
    for n, q in enumerate(queries):
        fusion, fixed, spec = {
            "oracle": ("routed", q["oracle"], None),
            "routed": ("routed", None, router),
        }.get(name, (name, None, None))
        if name == "rrf":
            fixed = routed[n]  # type: ignore[index]  # the router's weights, routed once above
        out = engine.search(
            SearchRequest(
                query=q["text"],
                index=index,
                fusion=fusion,
                weights=fixed,
                router=spec,
                **(fusion_options or {}),
            )
        )
        ranked.append([int(r.video_id[1:]) * PER_VIDEO + int(r.start // SEG_S) for r in out.results])
        timings.append(out.timings_ms)
        weights.append(out.weights)
    return ranked, timings, weights


def ann_recall(manifest, queries: list[dict], embedder_spec: str, n: int = 30) -> dict[str, tuple] | None:  # type: ignore[no-untyped-def]
    """Per vector column, recall@10 and @50 of the store's dense search against LanceDB brute force
    with the same prefilter, over ``n`` queries (None when the table has no vector index). A hit
    counts when its cosine is at least the exact k-th best's: the hashing embedder gives many rows
    the same text and so the same cosine, and which of the tied rows an exact search lists is
    arbitrary. Also the strict share of the exact ids found (``strict``)."""
    from stillhouse.models.embeddings import load_embedder
    from stillhouse.search.ingest import store_for
    from stillhouse.search.store import COMBINED, DENSE_COLUMNS

    if manifest.engine != "lancedb":
        return None
    store = store_for(manifest, manifest.current().config)
    table = store._table(manifest.current().table)  # the exact search is LanceDB's own
    if not any(i.index_type.startswith("Ivf") for i in table.list_indices()):
        return None
    embedder, out = load_embedder(embedder_spec), {}
    vectors = embedder.embed([q["text"] for q in queries[:n]])
    for c in DENSE_COLUMNS:
        tied, strict = {10: [], 50: []}, {10: [], 50: []}
        for vector in vectors:
            exact = table.search(vector, vector_column_name=f"{c}_vec").metric("cosine").bypass_vector_index()
            if c != COMBINED:
                exact = exact.where(f"has_{c}", prefilter=True)
            want = exact.limit(50).select(["id", "_distance"]).to_arrow()
            ids, cosines = want["id"].to_pylist(), [1.0 - d for d in want["_distance"].to_pylist()]
            got = store.dense(manifest.current().table, c, vector, 50)
            for k in (10, 50):
                bar = cosines[min(k, len(cosines)) - 1] - 1e-5
                tied[k].append(sum(h.score >= bar for h in got[:k]) / max(1, min(k, len(ids))))
                strict[k].append(len({h.id for h in got[:k]} & set(ids[:k])) / max(1, min(k, len(ids))))
        out[c] = tuple(statistics.mean(x[k]) for x in (tied, strict) for k in (10, 50))
    return out


def print_recall(recall: dict[str, tuple], n: int = 30) -> None:
    print(f"\nANN recall against brute force ({n} queries; tie-aware, then strict ids)")
    print(f"{'column':<14} {'@10':>6} {'@50':>6} {'strict@10':>10} {'strict@50':>10}")
    for c, (t10, t50, s10, s50) in recall.items():
        print(f"{c:<14} {t10:>6.3f} {t50:>6.3f} {s10:>10.3f} {s50:>10.3f}")


def print_stages(stages: dict[str, list[float]], queries: int) -> None:
    """Per stage of a routed search, p50 / p95 ms (channel searches overlap on their threads, so
    they add up to more than ``searches``, their wall time)."""
    print(f"\nrouted, per stage over {queries} queries (ms):")
    for stage, ms in stages.items():
        print(f"  {stage:<22} {pct(ms, 50):>7.2f} / {pct(ms, 95):<7.2f}")


def repeat_latency(engine, queries: list[dict], router: str, runs: int, options: dict) -> None:  # type: ignore[no-untyped-def]
    """p50 / p95 of total ms for routed and uniform, ``runs`` times over all queries each; the best
    run of each (the one least disturbed by the machine's other work) printed last."""
    from stillhouse.search.engine import SearchRequest

    for name, spec in (("routed", router), ("uniform", None)):
        fusion = "routed" if name == "routed" else "uniform"
        best = None
        for run in range(runs):
            totals = [
                engine.search(
                    SearchRequest(query=q["text"], index="bench", fusion=fusion, router=spec, **options)
                ).timings_ms.total
                for q in queries
            ]
            p50, p95 = pct(totals, 50), pct(totals, 95)
            load = os.getloadavg()[0]
            print(f"{name} run {run + 1}: total p50 {p50:.1f} / p95 {p95:.1f} ms (load {load:.1f})")
            best = min(best or (p50, p95), (p50, p95), key=lambda x: x[1])
        print(
            f"{name} best of {runs} runs over {len(queries)} queries: p50 {best[0]:.1f} / p95 {best[1]:.1f} ms"
        )  # type: ignore[index]


def print_table(results: dict) -> None:
    """Quality and latency per strategy, one line each."""
    print(
        f"\n{'strategy':<10} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6} {'nDCG@10':>8}   "
        f"{'route p50/p95':>14} {'retrieve p50/p95':>17} {'total p50/p95':>14}  (ms)"
    )
    for name, (m, t) in results.items():
        cols = [[getattr(x, f) for x in t] for f in ("route", "retrieve", "total")]
        lat = "  ".join(f"{pct(c, 50):>6.1f}/{pct(c, 95):<6.1f}" for c in cols)
        print(
            f"{name:<10} {m['R@1']:>6.1f} {m['R@5']:>6.1f} {m['R@10']:>6.1f} {m['MRR']:>6.3f} {m['nDCG@10']:>8.3f}   {lat}"
        )


def corpus_key(args: argparse.Namespace) -> dict:
    """What decides the corpus and its index: a work folder is reused only for the same."""
    keys = ("segments", "queries", "embedder", "engine", "short", "distractors", "duplicates", "seed")
    return {k: getattr(args, k) for k in keys}


def reuse(work: Path, args: argparse.Namespace) -> bool:
    """Whether ``work`` already holds this corpus's index (another corpus there is an error)."""
    recorded = work / "corpus.json"
    if not recorded.is_file():
        return False
    if json.loads(recorded.read_text()) != corpus_key(args):
        raise SystemExit(f"{work} holds another corpus ({recorded.read_text()}): use another --work")
    return True


def main() -> None:
    from stillhouse.search.fusion import MIN_WEIGHT  # reads no state: safe before STILLHOUSE_HOME is set

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--embedder", default="hashing")
    parser.add_argument("--engine", choices=["lancedb", "milvus"], default="lancedb")
    parser.add_argument("--router", help="router spec; default: fit a fast router here")
    parser.add_argument(
        "--router-queries", type=int, default=1000, help="weakly labelled queries for that fit"
    )
    parser.add_argument("--student", help="also time this generative router on 10 queries")
    parser.add_argument("--short", type=float, default=0.0, help="share of two-slot (short) queries")
    parser.add_argument(
        "--distractors", type=int, default=8, help="cross-modal distractors planted per query (README)"
    )
    parser.add_argument("--duplicates", type=int, default=2, help="near-duplicates of each query's target")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work", type=Path, help="folder to build the index (and fit the router) in once and reuse after"
    )
    parser.add_argument("--normalisation", choices=["minmax", "zscore", "rank"], default="minmax")
    parser.add_argument("--candidates", type=int, default=50, help="top-K of each list before fusion")
    parser.add_argument(
        "--lexical-weight", type=float, default=0.5, help="BM25's share of a modality's score"
    )
    parser.add_argument(
        "--min-weight",
        type=float,
        default=MIN_WEIGHT,
        help="modalities weighted under this are not searched (0: every channel, as before)",
    )
    parser.add_argument("--threads", type=int, default=8, help="the engine's search threads (1: one by one)")
    parser.add_argument("--repeat", type=int, default=0, help="time routed and uniform this many more times")
    parser.add_argument("--latency-only", action="store_true", help="only the --repeat timings")
    parser.add_argument("--no-recall", action="store_true", help="skip the ANN recall against brute force")
    parser.add_argument("--build-only", action="store_true", help="build the --work index and stop")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["STILLHOUSE_HOME"] = str(work / "home")
    from stillhouse.search.config import IngestConfig, load_manifest, require_manifest
    from stillhouse.search.engine import SearchEngine, SearchRequest
    from stillhouse.search.ingest import add_segments, store_for

    segments, queries = build_corpus(random.Random(args.seed), args)
    built = reuse(work, args)
    print(
        f"corpus: {len(segments)} segments, {args.queries} queries ({sum(len(q['mods']) > 1 for q in queries)} mixed), "
        f"{args.distractors} cross-modal distractors and {args.duplicates} near-duplicates planted per query, "
        f"mean relevant per query {statistics.mean(len(q['relevant']) for q in queries):.1f}"
    )

    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if not built or load_manifest("bench") is None:
        corpus = work / "segments.jsonl"
        with corpus.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(seg) + "\n" for seg in segments)
        report = add_segments(
            "bench", corpus, ingest=IngestConfig(embedder=args.embedder), engine=args.engine
        )
        print(
            f"add-segments ({args.engine}, {args.embedder}): {report.per_second:.0f} segments/s ({report.seconds:.1f} s)"
        )
        (work / "corpus.json").write_text(json.dumps(corpus_key(args)))
    else:
        print(f"reusing the index built in {work}")
    manifest = require_manifest("bench")
    if args.build_only:
        return
    size = store_for(manifest, manifest.current().config).size_bytes(manifest.current().table)
    print(f"index {size / 1e6 if size else float('nan'):.1f} MB on disk")

    if not args.no_recall:
        recall = ann_recall(manifest, queries, args.embedder)
        if recall:
            print_recall(recall)

    started = time.perf_counter()
    fitted = work / "router"
    if args.router is None and (fitted / "fast_router.json").is_file():
        args.router = str(fitted)  # fitted by an earlier run on this work folder
    router = args.router or str(fit_router(fitted, args.router_queries))
    print(
        f"router: {router} ({'given' if args.router else f'fitted in {time.perf_counter() - started:.1f} s'})"
    )

    stages: dict[str, list[float]] = {}
    engine = SearchEngine(threads=args.threads, stages=lambda s, ms: stages.setdefault(s, []).append(ms))
    for q in queries[:5]:  # loads router and index once, and warms the caches
        engine.search(SearchRequest(query=q["text"], index="bench", router=router))
    options = {
        "normalisation": args.normalisation,
        "candidates": args.candidates,
        "lexical_weight": args.lexical_weight,
        "min_weight": args.min_weight,
    }
    print(f"fusion options, the same for every strategy: {options}")
    results, routed = {}, None
    for name in () if args.latency_only else ("routed", "rrf", "uniform", "combined", "oracle"):
        stages.clear()
        ranked, timings, weights = run_strategy(engine, "bench", queries, name, routed, router, options)
        routed = weights if name == "routed" else routed
        results[name] = (metrics(ranked, queries), timings)
        if name == "routed":
            print_stages(stages, len(queries))
    if results:
        print_table(results)
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.repeat:
        repeat_latency(engine, queries, router, args.repeat, options)
    print(f"\npeak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if args.student:
        times = [
            engine.search(SearchRequest(query=q["text"], index="bench", router=args.student)).timings_ms.route
            for q in queries[:10]
        ]
        print(f"generative router {args.student}: route p50 {pct(times, 50):.0f} ms over 10 queries")


if __name__ == "__main__":
    main()
