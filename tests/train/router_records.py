"""A deterministic generator of video-router training records (query -> JSON modality weights).

Used by the training tests and ``benchmarks/bench_train.py``. The weights are made up by rule (the
leaning modality gets most of the mass), which is all a training test needs: realistic lengths and
the real record shape, not a real teacher's answers.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SYSTEM = (
    "Route the video search query. Answer JSON: visual, audio, transcription and metadata weights "
    "summing to 1, and a short reasoning."
)
_LEANS = {
    "visual": [
        "sunset over snowy mountains",
        "red car drifting on a wet track",
        "drone shot of a coral reef",
        "people dancing in neon light",
        "a cat jumping off a sofa",
    ],
    "audio": [
        "guitar solo with heavy distortion",
        "thunder and heavy rain",
        "crowd cheering in a stadium",
        "birds singing at dawn",
        "a dog barking far away",
    ],
    "transcription": [
        "CEO talks about layoffs",
        "someone says we will win this",
        "lecture explaining black holes",
        "interview about climate policy",
        "the coach shouting instructions",
    ],
    "metadata": [
        "videos uploaded by NASA in 2019",
        "clips from the 2022 world cup final",
        "films directed by Agnes Varda",
        "news from March 2021",
        "episodes featuring Gordon Ramsay",
    ],
}
_PREFIXES = ["", "find ", "show me ", "clips of ", "search for ", "I want "]
_SUFFIXES = ["", " please", " in slow motion", " from last year", " with subtitles", " at night"]


def router_answer(lean: str, rng: random.Random) -> str:
    """A valid router answer leaning to ``lean`` (weights sum to 1 after rounding)."""
    main = round(rng.uniform(0.5, 0.8), 2)
    others = [k for k in _LEANS if k != lean]
    cuts = sorted(round(rng.uniform(0, 1 - main), 2) for _ in range(2))
    rest = [cuts[0], round(cuts[1] - cuts[0], 2), round(1 - main - cuts[1], 2)]
    weights = {lean: main, **dict(zip(others, rest, strict=True))}
    ordered = {k: weights[k] for k in _LEANS}
    return json.dumps({**ordered, "reasoning": f"Mostly {lean}."})


def router_records(count: int, *, seed: int = 0) -> list[dict]:
    """``count`` bedrock-conversation-2024 records (system, user query, assistant JSON)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        lean = list(_LEANS)[i % len(_LEANS)]
        query = rng.choice(_PREFIXES) + rng.choice(_LEANS[lean]) + rng.choice(_SUFFIXES)
        out.append(
            {
                "schemaVersion": "bedrock-conversation-2024",
                "system": [{"text": SYSTEM}],
                "messages": [
                    {"role": "user", "content": [{"text": query}]},
                    {"role": "assistant", "content": [{"text": router_answer(lean, rng)}]},
                ],
            }
        )
    return out


def write_router_records(path: Path, count: int, *, seed: int = 0) -> Path:
    """Write ``count`` router records as JSONL to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in router_records(count, seed=seed)))
    return path


def write_jsonl(path: Path, records: list[dict]) -> Path:
    """Write any record dicts as JSONL."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path
