"""The hand-labelled golden set: few-shot examples (``golden.jsonl``) and a held-out set (``dev.jsonl``).

250 queries written and labelled by hand, 50 per intent (visual, audio, transcription, metadata,
mixed), split 25/25 per intent between the two files. Edge cases are spread over every intent: quoted
speech, quoted titles and on-screen text, named people and channels, dates, genres, typos, one-word
queries, very long queries, and Spanish, French, German, Italian, Portuguese and Japanese queries.

Labelling policy (applied to every record, and checked by the tests):

- Weights are multiples of 0.05 and each modality gets at least 0.05: the router is a soft weighting
  of indices, and titles, captions or incidental speech rarely carry *no* signal.
- Single-intent query (one modality carries the answer): that modality gets 0.55–0.80 — 0.70–0.80
  when the query names only its cues ("glass shattering"), 0.55–0.65 when another modality plausibly
  carries the same information (a named person is metadata but also a face). The strongest secondary
  modality gets 0.10–0.35.
- Mixed query (cues from two or more modalities are explicitly asked for): no weight above 0.45, and
  the named modalities share most of the mass (e.g. 0.45/0.45 for sight+sound, 0.30/0.30/0.30 for
  three). The intent of a record is therefore recoverable from its weights alone
  (:func:`~stillhouse.tasks.video_router.weights.intent_of`: the argmax above 0.5, else mixed).
- Conventions where modalities meet: quoted *spoken or sung* words and lyrics → transcription; quoted
  *written* words (signs, on-screen text) → visual; quoted *titles* and tags → metadata; music,
  instruments and non-speech vocal sounds (laughter, screams, humming, applause) → audio; "talks
  about / explains / says" → transcription; named people, channels, series, dates, durations, genres,
  camera angles and shot types, mood and licensing → metadata.
- Reasoning: one specific sentence (≤ 200 characters) naming the cue that decides the weighting;
  non-English queries are glossed in English so the reasoning doubles as documentation.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping
from importlib import resources

from stillhouse.records.schema import ContentBlock, ConversationRecord, SystemBlock, Turn
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT, Modality
from stillhouse.tasks.video_router.route_head import RoutePrior, route_prior
from stillhouse.tasks.video_router.weights import intent_of

GOLDEN_FILE = "golden.jsonl"
DEV_FILE = "dev.jsonl"


def load_golden() -> list[ConversationRecord]:
    """The few-shot golden examples (labelled ``bedrock-conversation-2024`` records)."""
    return _load(GOLDEN_FILE)


def load_dev() -> list[ConversationRecord]:
    """The held-out labelled set used for evaluation; disjoint from :func:`load_golden`."""
    return _load(DEV_FILE)


@functools.cache
def golden_route_prior() -> RoutePrior:
    """Each route's median weights over the golden examples (:func:`.route_head.route_prior`), read
    once: what the route head and ``decode_until`` mix the student's route probabilities over.
    Shared, so read it and never change it."""
    return route_prior(load_golden())


def _load(name: str) -> list[ConversationRecord]:
    text = resources.files("stillhouse.tasks.video_router").joinpath("data", name).read_text(encoding="utf-8")
    return [ConversationRecord.model_validate_json(line) for line in text.splitlines() if line.strip()]


def labelled_record(query: str, answer: str, *, system: str = SYSTEM_PROMPT) -> ConversationRecord:
    """A labelled pair: system prompt, the query as the user turn, the rendered answer as the assistant."""
    return ConversationRecord(
        system=[SystemBlock(text=system)],
        messages=[
            Turn(role="user", content=[ContentBlock(text=query)]),
            Turn(role="assistant", content=[ContentBlock(text=answer)]),
        ],
    )


def stratified_split(
    items: Iterable[tuple[str, Mapping[Modality, float]]], *, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Indices of two halves with each intent split evenly (the odd one out goes to the first half).

    ``items`` are ``(query, weights)``; the order inside each half follows the input order so that
    files stay diffable.
    """
    by_intent: dict[str, list[int]] = defaultdict(list)
    for index, (_query, weights) in enumerate(items):
        by_intent[intent_of(weights)].append(index)
    rng = random.Random(seed)
    first: list[int] = []
    second: list[int] = []
    for intent in sorted(by_intent):
        indices = list(by_intent[intent])
        rng.shuffle(indices)
        half = (len(indices) + 1) // 2
        first += indices[:half]
        second += indices[half:]
    return sorted(first), sorted(second)
