"""Speed levers of the distilled generative router, side by side on one student in one run.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_student_levers.py \\
        --student runs/demo/models/student --fast-router runs/demo/models/fast-router \\
        [--n 40] [--threads 1] [--levers today,combined,...] [--shots 0]

Loads the published student's ``model.gguf`` (llama.cpp, skeleton decoding) and answers each of the
first ``--n`` held-out dev queries under every lever in turn, so each lever sees the same machine
load, and each starts from the llama.cpp context a new query of a stream finds (the shared prefix
held, not the query another lever has just read). Every lever is a real option of the served
student (``StudentDecoding`` in its ``stillhouse.json``, ``LoadOptions``,
``STILLHOUSE_LLAMA_THREADS``) or a path of the library
(``option_logprobs`` + ``tasks.video_router.route_head``); the answers go through
``StudentFormatModel`` as a served student's do:

- ``today``            the student schema as trained: route, reasoning (at most 200 characters), weights
- ``no-prefix-reuse``  today, with llama.cpp's context emptied before each call (what reusing the
                       evaluated system prompt saves)
- ``threads=2``        today on two llama.cpp threads (the demo machine's cores)
- ``reasoning<=N``     ``max_string_chars``: the closing quote forced at N characters
- ``decimals=2`` / ``decimals=1``  ``number_decimals``: a weight at its last decimal ends without a pass
- ``draft``            prompt-lookup drafts verified in batches (``draft`` option; acceptance printed)
- ``combined``         reasoning<=40, decimals=1 and draft together (``combined-nodraft``: without draft)
- ``route-prior``      ``decode_until`` the reasoning: route and reasoning decoded, the weights the
                       route head's (below), from the route scores read in the pass over the prompt
- ``route-prior-draft``  the same with prompt-lookup drafts
- ``weights-only``     route and weights decoded, no reasoning
- ``route-only``       the route alone decoded
- ``route-head``       the weights-only path: the route's probabilities from one forward pass,
                       mixed over each route's median golden weights (no token decoded)
- ``route-head-threads=2``  the route head on two llama.cpp threads
- ``route-head-q4_0``  the route head on the student requantized from q8_0 to q4_0 by llama.cpp's
                       quantizer (a temporary file; half the weight bytes, and a different model's
                       numbers, so its routes are compared with the q8_0 route head's)
- ``fast-router``      the MiniLM + softmax-head router, for the weights-only goal (3x its latency)

Prints p50/p95 latency, the ratio to today's p50, mean answer tokens, the dominant accuracy and
MAE against the human labels, and how often the lever's dominant modality agrees with today's.
Figures only, nothing is asserted.

``--shots K`` puts K golden examples (one per modality first), rendered in the student format, as
turns before each query: a base model that was never trained in the format then answers in its
shape (a route, a sentence of reasoning, two-decimal weights), so the levers can be timed on a
model of the student's architecture and size when no distilled student is at hand. The shots are
the same for every query, so the prefix cache holds them and each query costs what a trained
student's does; only ``no-prefix-reuse`` pays for them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEMO = Path("runs/demo/models")
ALL_LEVERS = (
    "today,no-prefix-reuse,threads=2,reasoning<=80,reasoning<=40,decimals=2,decimals=1,draft,combined,"
    "combined-nodraft,route-prior,route-prior-draft,"
    "weights-only,route-only,route-head,route-head-threads=2,route-head-q4_0,fast-router"
)
ROUTE_HEADS = ("route-head", "route-head-threads=2", "route-head-q4_0")


@dataclass
class Row:
    ms: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    weights: list[dict[str, float] | None] = field(default_factory=list)
    dominant: list[str | None] = field(default_factory=list)
    note: str = ""


def decodings() -> dict[str, Any]:
    """The ``StudentDecoding`` of each schema lever."""
    from stillhouse.models.draft import PromptLookup
    from stillhouse.models.manifest import StudentDecoding

    return {
        "reasoning<=80": StudentDecoding(max_string_chars=80),
        "reasoning<=40": StudentDecoding(max_string_chars=40),
        "decimals=2": StudentDecoding(number_decimals=2),
        "decimals=1": StudentDecoding(number_decimals=1),
        "draft": StudentDecoding(draft=PromptLookup()),
        "combined": StudentDecoding(max_string_chars=40, number_decimals=1, draft=PromptLookup()),
        "combined-nodraft": StudentDecoding(max_string_chars=40, number_decimals=1),
        "route-prior": StudentDecoding(decode_until="reasoning"),
        "route-prior-draft": StudentDecoding(decode_until="reasoning", draft=PromptLookup()),
    }


class Bench:
    """The student loaded once per llama.cpp setting the levers need, and one call per lever."""

    def __init__(self, args: argparse.Namespace) -> None:
        from stillhouse.models import load_model
        from stillhouse.models.llamacpp import LlamaCppModel
        from stillhouse.models.manifest import StudentDecoding
        from stillhouse.tasks import get_task
        from stillhouse.tasks.student_model import StudentFormatModel
        from stillhouse.tasks.video_router.golden import golden_route_prior

        self.task = get_task("video-router")
        gguf, threads, draft = args.student / "model.gguf", args.threads, decodings()["draft"].draft
        # One llama.cpp context per setting, so that emptying one (no-prefix-reuse) costs no other lever
        self.inner = {
            "plain": LlamaCppModel(gguf, n_threads=threads),
            "fresh": LlamaCppModel(gguf, n_threads=threads),
            "threads=2": LlamaCppModel(gguf, n_threads=2),
            "draft": LlamaCppModel(gguf, n_threads=threads, draft=draft),
        }
        # Each route head on a context of its own: after another lever answered the same query, the
        # context would hold that query's prompt, and the pass would read only the forced text.
        levers = args.levers.split(",")
        for lever, n in (("route-head", threads), ("route-head-threads=2", 2), ("route-head-q4_0", threads)):
            if lever in levers:
                path = requantized(gguf, "q4_0") if lever.endswith("q4_0") else gguf
                self.inner[lever] = LlamaCppModel(path, n_threads=n)
        self.evaluated: dict[str, list[int]] = {}  # each route head's tokens per pass
        self.students = {
            name: StudentFormatModel(self.inner[name if name in self.inner else "plain"], self.task)
            for name in ("today", "no-prefix-reuse", "threads=2")
        }
        self.students["no-prefix-reuse"] = StudentFormatModel(self.inner["fresh"], self.task)
        for name, decoding in decodings().items():
            inner = self.inner["draft" if decoding.draft is not None else "plain"]
            self.students[name] = StudentFormatModel(inner, self.task, decoding)
        self.plain = StudentFormatModel(self.inner["plain"], self.task, StudentDecoding())
        self.prior = golden_route_prior()
        self.fast_router = load_model(str(args.fast_router)) if args.fast_router else None
        self.shots = shot_turns(self.task, args.shots)

    def messages(self, query: str) -> list:
        """The task's conversation for ``query``, with the shots between its system prompt and it."""
        system, user = self.task.messages(query)
        return [system, *self.shots, user] if self.shots else [system, user]

    def call(self, lever: str, query: str) -> tuple[float, int, dict[str, float] | None, str | None]:
        """(ms, answer tokens, weights, dominant) of one lever on one query."""
        from stillhouse.chat import GenerationParams
        from stillhouse.tasks.student import to_student_request

        messages = self.messages(query)
        params = GenerationParams(max_tokens=256, json_schema=self.task.json_schema)
        if lever != "fast-router":
            forget_query(self._context(lever), to_student_request(self.task, messages, params)[0])
        if lever == "no-prefix-reuse":
            fresh = self.inner["fresh"]
            fresh._llm.n_tokens = 0  # what a fresh context would evaluate: the whole prompt
            fresh._skeletons.states.snapshots.clear()
        if lever in self.students:
            return self._answer(self.students[lever], messages, params)
        if lever == "fast-router":
            assert self.fast_router is not None
            return self._answer(self.fast_router, messages, params)
        if lever in ROUTE_HEADS:
            return self._route_head(lever, messages)
        return self._partial(lever, messages)

    def _context(self, lever: str) -> Any:
        """The llama.cpp model a lever runs on."""
        if lever in ROUTE_HEADS:
            return self.inner[lever]
        return self.students[lever].inner if lever in self.students else self.plain.inner

    def _route_head(self, lever: str, messages: list) -> tuple[float, int, dict | None, str | None]:
        """The weights-only path on the lever's context; counts the tokens its pass evaluated (what
        the prefix cache did not hold)."""
        from stillhouse.tasks.student_model import StudentFormatModel
        from stillhouse.tasks.video_router.route_head import mixed_weights
        from stillhouse.tasks.video_router.weights import dominant

        inner = self.inner[lever]
        student = StudentFormatModel(inner, self.task)
        llm = inner._llm
        before = llm.input_ids[: llm.n_tokens].tolist()
        started = time.perf_counter()
        weights = mixed_weights(student.option_logprobs(messages), self.prior)
        ms = (time.perf_counter() - started) * 1000
        after = llm.input_ids[: llm.n_tokens].tolist()
        self.evaluated.setdefault(lever, []).append(len(after) - llm.longest_token_prefix(before, after))
        return ms, 0, weights, dominant(weights)

    def _answer(self, model: Any, messages: list, params: Any) -> tuple[float, int, dict | None, str | None]:
        started = time.perf_counter()
        completion = model.generate(messages, params)
        ms = (time.perf_counter() - started) * 1000
        weights = _weights(completion.text)
        return ms, completion.output_tokens, weights, _dominant(weights)

    def _partial(self, lever: str, messages: list) -> tuple[float, int, dict | None, str | None]:
        """``weights-only`` and ``route-only``: the student schema without the reasoning (and without
        the weights), decoded by the inner model on the student prompt."""
        from stillhouse.chat import GenerationParams
        from stillhouse.tasks.student import to_student_request

        student_messages, student_params = to_student_request(self.task, messages, GenerationParams())
        schema = dict(student_params.json_schema or {})
        keep = ["route"] if lever == "route-only" else [k for k in schema["required"] if k != "reasoning"]
        schema = {**schema, "properties": {k: schema["properties"][k] for k in keep}, "required": keep}
        started = time.perf_counter()
        completion = self.plain.inner.generate(
            student_messages, GenerationParams(max_tokens=256, json_schema=schema)
        )
        ms = (time.perf_counter() - started) * 1000
        value = json.loads(completion.text)
        weights = _weights(completion.text) if lever == "weights-only" else None
        return ms, completion.output_tokens, weights, _dominant(weights) if weights else value.get("route")


def forget_query(inner: Any, messages: list) -> None:
    """Leave ``inner``'s context (``messages``: the student's request) as the next query of a stream finds it: holding the prefix every
    query shares (system prompt, shots, the user turn's opening) but not this query's prompt, which
    the lever before, on the same context, has just read (its pass would read only what follows)."""
    from stillhouse.chat import Message
    from stillhouse.models.llamacpp import to_llama_messages

    llm, states = inner._llm, inner._skeletons.states
    prompt = inner._prompt_tokens(to_llama_messages(messages))
    common = min(
        llm.longest_token_prefix(prompt, inner._prompt_tokens(to_llama_messages([*messages[:-1], other])))
        for other in (Message(role="user", content="x"), Message(role="user", content="y"))
    )
    llm.n_tokens = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt[:common])
    states.snapshots = [s for s in states.snapshots if llm.longest_token_prefix(s.tokens, prompt) <= common]


def requantized(gguf: Path, kind: str) -> Path:
    """``gguf`` requantized to ``kind`` by llama.cpp's own quantizer, in a temporary folder."""
    import ctypes
    import tempfile

    import llama_cpp

    out = Path(tempfile.mkdtemp(prefix="bench-levers-")) / f"model-{kind}.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.allow_requantize = True  # the published student is q8_0 already
    if llama_cpp.llama_model_quantize(str(gguf).encode(), str(out).encode(), ctypes.byref(params)) != 0:
        raise SystemExit(f"llama.cpp could not quantize {gguf} to {kind}")
    return out


def shot_turns(task: Any, k: int) -> list:
    """``k`` golden examples as user/assistant turns in the student format, one per modality first."""
    from stillhouse.chat import Message
    from stillhouse.tasks.video_router.golden import load_golden

    golden, seen, picked = load_golden(), set(), []
    for record in golden:  # the first of each modality, then the rest in order
        route = _dominant(_weights(record.answer or ""))
        if route not in seen:
            seen.add(route)
            picked.append(record)
    picked += [r for r in golden if r not in picked]
    turns = []
    for record in picked[:k]:
        value = task.accept(record.answer or "", repair=True).value
        turns += [
            Message(role="user", content=record.prompt_turns[-1].text),
            Message(role="assistant", content=task.render_student(value)),
        ]
    return turns


def _weights(text: str) -> dict[str, float] | None:
    from stillhouse.tasks.video_router.weights import normalise, weights_of

    try:
        return dict(normalise(weights_of(json.loads(text))))
    except Exception:  # noqa: BLE001 - an unreadable answer scores as wrong
        return None


def _dominant(weights: dict[str, float] | None) -> str | None:
    from stillhouse.tasks.video_router.weights import dominant

    return dominant(weights) if weights else None  # type: ignore[arg-type]


def run(bench: Bench, levers: list[str], n: int, log: Callable[[str], None]) -> tuple[dict[str, Row], list]:
    from stillhouse.tasks.video_router.golden import load_dev
    from stillhouse.tasks.video_router.weights import normalise, weights_of

    rows = {name: Row() for name in levers}
    refs = []
    dev = load_dev()[:n]
    for lever in levers:  # warm each path once (a first call builds token tables and templates)
        bench.call(lever, dev[0].prompt_turns[-1].text)
    bench.evaluated.clear()
    for i, record in enumerate(dev):
        query = record.prompt_turns[-1].text
        refs.append(normalise(weights_of(json.loads(record.answer or "{}"))))
        for lever in levers:
            ms, tokens, weights, dom = bench.call(lever, query)
            row = rows[lever]
            (
                row.ms.append(ms),
                row.tokens.append(tokens),
                row.weights.append(weights),
                row.dominant.append(dom),
            )
        if (i + 1) % 10 == 0:
            log(f"  {i + 1}/{len(dev)} queries, load average {os.getloadavg()[0]:.1f}")
    return rows, refs


def report(rows: dict[str, Row], refs: list, bench: Bench, args: argparse.Namespace) -> None:
    from stillhouse.tasks.video_router.weights import top_modalities

    base = float(np.percentile(rows["today"].ms, 50)) if "today" in rows else float("nan")
    router = float(np.percentile(rows["fast-router"].ms, 50)) if "fast-router" in rows else float("nan")
    stats = bench.inner["draft"]._skeletons.draft_stats
    print(
        f"student {args.student}, {len(refs)} held-out queries, {args.threads} llama.cpp thread(s), "
        f"{args.shots} shots"
    )
    print(
        f"load average at the end {os.getloadavg()[0]:.1f}; prompt-lookup acceptance {stats.acceptance:.0%}"
    )
    print(
        f"{'lever':<20} {'p50 ms':>8} {'p95 ms':>8} {'x today':>8} {'x router':>8} {'tokens':>7} "
        f"{'dominant':>9} {'MAE':>6} {'= today':>8}"
    )
    today = rows.get("today")
    for name, row in rows.items():
        p50, p95 = np.percentile(row.ms, [50, 95])
        acc = np.mean([d in top_modalities(ref) for d, ref in zip(row.dominant, refs, strict=True)])
        errors = [
            np.mean([abs(w[m] - ref[m]) for m in ref]) for w, ref in zip(row.weights, refs, strict=True) if w
        ]
        mae = f"{np.mean(errors):6.3f}" if errors else f"{'-':>6}"
        same = np.mean([a == b for a, b in zip(row.dominant, today.dominant, strict=True)]) if today else 0
        print(
            f"{name:<20} {p50:8.1f} {p95:8.1f} {p50 / base:8.2f} {p50 / router:8.1f} "
            f"{np.mean(row.tokens):7.1f} {acc:9.1%} {mae} {same:8.1%}"
        )
    for lever, counts in bench.evaluated.items():
        agree = ""
        if lever != "route-head" and "route-head" in rows:
            pairs = zip(rows[lever].dominant, rows["route-head"].dominant, strict=True)
            agree = f", same route as route-head {np.mean([a == b for a, b in pairs]):.0%}"
        print(f"{lever}: {np.mean(counts):.1f} tokens evaluated per pass{agree}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, default=DEMO / "student")
    parser.add_argument("--fast-router", type=Path, default=DEMO / "fast-router")
    parser.add_argument("--n", type=int, default=40, help="held-out dev queries")
    parser.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy box")
    parser.add_argument("--levers", default=ALL_LEVERS, help="comma-separated, from: " + ALL_LEVERS)
    parser.add_argument("--shots", type=int, default=0, help="golden turns before each query (see above)")
    args = parser.parse_args()
    os.environ["STILLHOUSE_LLAMA_THREADS"] = str(args.threads)
    levers = [lever.strip() for lever in args.levers.split(",") if lever.strip()]
    unknown = set(levers) - set(ALL_LEVERS.split(","))
    if unknown:
        parser.error(f"unknown levers: {', '.join(sorted(unknown))}")
    bench = Bench(args)
    rows, refs = run(bench, levers, args.n, print)
    report(rows, refs, bench, args)


if __name__ == "__main__":
    main()
