"""Streaming on the packaged student (SmolLM2-135M, llama.cpp): time to the first delta against the
whole answer, free-form and under the router's schema (printed, never asserted).

Each request runs warm (the same call once first, see tests/serve/test_integration_stream.py):
``generate`` for the whole answer, then ``stream`` for its first delta and its end.

    python benchmarks/bench_stream.py [--threads N] [--repeats N]

Keep it short: the machine's 2 cores are shared.
"""

from __future__ import annotations

import argparse
import statistics
import time

from stillhouse.chat import Completion, GenerationParams, Message
from stillhouse.models import load_model
from stillhouse.tasks import get_task


def measure(model, messages: list[Message], params: GenerationParams, repeats: int) -> dict[str, float]:
    model.generate(messages, params)  # warm
    whole, first, streamed, deltas = [], [], [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        model.generate(messages, params)
        whole.append(time.perf_counter() - started)
        started, seen = time.perf_counter(), None
        for item in model.stream(messages, params):
            if seen is None:
                seen = time.perf_counter() - started
            if not isinstance(item, Completion):
                deltas += 1
        first.append(seen or 0.0)
        streamed.append(time.perf_counter() - started)
    return {
        "generate_ms": statistics.median(whole) * 1000,
        "first_delta_ms": statistics.median(first) * 1000,
        "stream_ms": statistics.median(streamed) * 1000,
        "deltas": deltas / repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    model = load_model("smollm2-135m", n_threads=args.threads)
    router = get_task("video-router")
    cases = {
        "free-form, 64 tokens": (
            [Message(role="user", content="Write a short poem about the sea.")],
            GenerationParams(max_tokens=64),
        ),
        "router schema (skeleton)": (
            router.messages("the drum solo in the live set"),
            GenerationParams(max_tokens=160, json_schema=router.json_schema),
        ),
    }
    for name, (messages, params) in cases.items():
        figures = measure(model, messages, params, args.repeats)
        print(f"{name:28s} " + "  ".join(f"{k} {v:7.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
