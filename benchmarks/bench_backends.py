"""Speed of the llama.cpp backend on the packaged models (printed, never asserted).

Measures, through ``stillhouse.models.load_model``:
  1. SmolLM2-135M: tokens/s free-form and with JSON-schema decoding;
  2. the offline teacher (Qwen2.5-Coder-1.5B) with a ~600-token system prompt: the first call, then
     calls with new user turns (llama.cpp re-evaluates only the part after the shared prefix), and
     alternating two system prompts with and without a ``LlamaRAMCache`` of saved states.

    python benchmarks/bench_backends.py [--threads N] [--skip-teacher]

Keep it short: the machine's 2 cores are shared.
"""

from __future__ import annotations

import argparse
import json
import time

from stillhouse.chat import GenerationParams, Message
from stillhouse.models import load_model

ROUTER_SCHEMA = {
    "type": "object",
    "properties": {
        "visual": {"type": "number"},
        "audio": {"type": "number"},
        "transcription": {"type": "number"},
        "metadata": {"type": "number"},
        "reasoning": {"type": "string", "maxLength": 120},
    },
    "required": ["visual", "audio", "transcription", "metadata", "reasoning"],
}
_EXAMPLES = [
    ("sunset over snowy mountains", 0.8, 0.05, 0.05, 0.1, "A scene that is seen."),
    ("guitar solo at a rock concert", 0.2, 0.65, 0.05, 0.1, "An instrument heard, not spoken."),
    ("CEO talks about layoffs in an interview", 0.1, 0.05, 0.7, 0.15, "What is said matters most."),
    ("videos uploaded by NASA in 2019", 0.1, 0.0, 0.1, 0.8, "Channel and date are metadata."),
    ("crowd cheering after a last-minute goal", 0.45, 0.4, 0.05, 0.1, "Seen and heard together."),
    ("lecture on quantum entanglement", 0.1, 0.0, 0.75, 0.15, "A spoken topic."),
    ("drone shot of a coral reef", 0.8, 0.05, 0.0, 0.15, "Camera angle and scene."),
    ("lyrics 'we will rock you'", 0.05, 0.3, 0.6, 0.05, "Sung words are transcribed."),
]


def system_prompt(variant: str = "A") -> str:
    """A router system prompt with eight worked examples (~600 tokens in Qwen's vocabulary)."""
    lines = [
        f"[{variant}] You route video search queries to four indexes and weigh how much each should count.",
        "- visual: what is seen: scenes, objects, people's appearance, colours, on-screen action and text.",
        "- audio: non-speech sound: music, instruments, sound effects, ambient noise, laughter, applause.",
        "- transcription: what is said or sung: quotes, spoken topics, interviews, lectures, lyrics.",
        "- metadata: title, caption, people and channel names, genre, upload date or timestamp, tags such "
        "as camera angle, mood or licensing window.",
        'Answer with JSON only: {"visual": w, "audio": w, "transcription": w, "metadata": w, '
        '"reasoning": "one short sentence"}. Weights are numbers from 0 to 1 that sum to 1.0; the '
        "modality that best matches the query gets the most weight. Think about what a person searching "
        "with this query hopes to find, and which index would hold that evidence.",
        "Examples:",
    ]
    for query, v, a, t, m, why in _EXAMPLES:
        answer = {"visual": v, "audio": a, "transcription": t, "metadata": m, "reasoning": why}
        lines.append(f"Query: {query}\nAnswer: {json.dumps(answer)}")
    return "\n".join(lines)


def _timed(model, messages, params) -> dict:
    started = time.perf_counter()
    completion = model.generate(messages, params)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "input_tokens": completion.input_tokens,
        "output_tokens": completion.output_tokens,
        "tok_per_s": round(completion.output_tokens / seconds, 1),
    }


def bench_student(threads: int | None) -> None:
    model = load_model("smollm2-135m", n_ctx=1024, n_threads=threads)
    user = [Message(role="user", content="Describe a walk along the beach at sunset in a few sentences.")]
    model.generate(user, GenerationParams(max_tokens=4))  # warm-up: first-call allocations
    print("smollm2 free-form", _timed(model, user, GenerationParams(max_tokens=96)))
    query = [
        Message(role="system", content=system_prompt()),
        Message(role="user", content="Query: jazz piano in a bar"),
    ]
    model.generate(query, GenerationParams(max_tokens=4))  # cache the system prompt so only decoding is timed
    print(
        "smollm2 json-schema",
        _timed(model, query, GenerationParams(max_tokens=64, json_schema=ROUTER_SCHEMA)),
    )
    print("smollm2 same, free-form", _timed(model, query, GenerationParams(max_tokens=64)))


def bench_teacher(threads: int | None) -> None:
    params = GenerationParams(max_tokens=48, json_schema=ROUTER_SCHEMA)
    queries = [
        "jazz piano in a bar",
        "interview with a marathon winner",
        "timelapse of city traffic at night",
    ]

    def ask(model, variant: str, query: str) -> dict:
        messages = [
            Message(role="system", content=system_prompt(variant)),
            Message(role="user", content=f"Query: {query}"),
        ]
        return _timed(model, messages, params)

    model = load_model("qwen2.5-coder-1.5b", n_ctx=2048, n_threads=threads)
    print("teacher system prompt tokens", model.count_tokens(system_prompt()))  # type: ignore[attr-defined]
    print("teacher call 1 (cold)", ask(model, "A", queries[0]))
    print("teacher call 2 (same system, new query)", ask(model, "A", queries[1]))
    print("teacher call 3 (same system, new query)", ask(model, "A", queries[2]))
    for cache_bytes in (0, 1 << 30):
        model = load_model(
            "qwen2.5-coder-1.5b", n_ctx=2048, n_threads=threads, prefix_cache_bytes=cache_bytes
        )
        ask(model, "A", queries[0])
        ask(model, "B", queries[0])
        print(f"teacher A after B, ram cache={cache_bytes > 0}", ask(model, "A", queries[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    parser.add_argument("--skip-teacher", action="store_true", help="only the SmolLM2 figures")
    args = parser.parse_args()
    bench_student(args.threads)
    if not args.skip_teacher:
        bench_teacher(args.threads)


if __name__ == "__main__":
    main()
