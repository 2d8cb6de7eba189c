"""Synthetic router queries: the ``generate_training_data`` equivalent, without a model.

Queries are composed from slot vocabularies (:mod:`.vocab`) and templates written per intent (visual,
audio, transcription, metadata, mixed) and difficulty (easy: one plain cue; medium: a cue plus
context; hard: implicit phrasing or a distractor). Edge-case transforms then add typos, very short
(one or two word) queries, very long rambling queries and non-English queries (Spanish, French, German,
Japanese). Output is balanced by intent, deduplicated on normalised text, and fully determined by the
seed. The intent attached to each query is the *design* intent of its template, a balancing and
plotting aid, never a label: the teacher labels the weights.

Pure, as the rest of the task contract: no files, no models, no progress display (an edge that wants
one wraps :func:`iter_synthesize`). The steering pool (``VideoRouterTask.steering_pool``) is made here.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from stillhouse.errors import InvalidInputError
from stillhouse.records.schema import ContentBlock, ConversationRecord, SystemBlock, Turn
from stillhouse.tasks.video_router import vocab
from stillhouse.tasks.video_router.prompt import SYSTEM_PROMPT
from stillhouse.tasks.video_router.synth_templates import (
    ELABORATIONS,
    FOREIGN,
    FOREIGN_VOCAB,
    SHORT,
    TEMPLATES,
)
from stillhouse.tasks.video_router.weights import INTENTS

Difficulty = Literal["easy", "medium", "hard"]
EdgeCase = Literal["typo", "short", "long", "non_english"]
DIFFICULTIES: tuple[Difficulty, ...] = ("easy", "medium", "hard")
EDGE_CASES: tuple[EdgeCase, ...] = ("typo", "short", "long", "non_english")

# How many failed draws (duplicates) we tolerate per requested query before declaring the
# vocabulary exhausted, so an impossible request fails fast instead of spinning.
_MAX_DRAWS_PER_QUERY = 50


class SyntheticQuery(BaseModel):
    """One generated query with the design choices that produced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    intent: str
    difficulty: Difficulty
    edge_case: EdgeCase | None = None


class SynthConfig(BaseModel):
    """Knobs of :func:`synthesize`. ``edge_rate`` is the share of queries given an edge-case transform."""

    model_config = ConfigDict(extra="forbid")

    n: int
    seed: int = 0
    edge_rate: float = 0.3
    intents: tuple[str, ...] = INTENTS


def normalise_text(text: str) -> str:
    """The dedup key: case-folded, punctuation dropped, whitespace collapsed."""
    stripped = "".join(" " if ch in string.punctuation else ch for ch in text.casefold())
    return " ".join(stripped.split())


def synthesize(config: SynthConfig, *, exclude: Iterable[str] = ()) -> list[SyntheticQuery]:
    """``config.n`` distinct queries, intents taking turns so counts differ by at most one.

    ``exclude`` lists queries never to produce (compared after :func:`normalise_text`), e.g. the
    held-out evaluation set, so synthetic training prompts cannot leak into it.
    """
    return list(iter_synthesize(config, exclude=exclude))


def iter_synthesize(config: SynthConfig, *, exclude: Iterable[str] = ()) -> Iterator[SyntheticQuery]:
    """The queries of :func:`synthesize`, one at a time, so an edge (the CLI) can show progress.

    The config is checked before the first query is drawn.
    """
    _check(config)
    return _queries(config, {normalise_text(text) for text in exclude})


def _queries(config: SynthConfig, seen: set[str]) -> Iterator[SyntheticQuery]:
    rng = random.Random(config.seed)
    made = draws = 0
    while made < config.n:
        if draws > _MAX_DRAWS_PER_QUERY * config.n:
            raise InvalidInputError(f"only {made} distinct queries could be made; ask for fewer", field="n")
        draws += 1
        query = _draw(rng, config.intents[made % len(config.intents)], config.edge_rate)
        key = normalise_text(query.text)
        if key and key not in seen:
            seen.add(key)
            made += 1
            yield query


def to_records(queries: Iterable[SyntheticQuery], *, system: str = SYSTEM_PROMPT) -> list[ConversationRecord]:
    """Prompt-only ``bedrock-conversation-2024`` records (the teacher answers them)."""
    return [
        ConversationRecord(
            system=[SystemBlock(text=system)],
            messages=[Turn(role="user", content=[ContentBlock(text=q.text)])],
        )
        for q in queries
    ]


def _check(config: SynthConfig) -> None:
    if config.n < 1:
        raise InvalidInputError("must be at least 1", field="n")
    if not 0.0 <= config.edge_rate <= 1.0:
        raise InvalidInputError("must be between 0 and 1", field="edge_rate")
    unknown = sorted(set(config.intents) - set(INTENTS))
    if unknown or not config.intents:
        raise InvalidInputError(
            f"unknown or empty intents {unknown}; known: {', '.join(INTENTS)}", field="intents"
        )


def _draw(rng: random.Random, intent: str, edge_rate: float) -> SyntheticQuery:
    difficulty: Difficulty = rng.choice(DIFFICULTIES)
    edge: EdgeCase | None = rng.choice(EDGE_CASES) if rng.random() < edge_rate else None
    if edge == "short":
        return SyntheticQuery(
            text=rng.choice(SHORT[intent]), intent=intent, difficulty="hard", edge_case=edge
        )
    if edge == "non_english":
        language = rng.choice(sorted(FOREIGN))
        text = _fill(rng, rng.choice(FOREIGN[language][intent]), language)
        return SyntheticQuery(text=text, intent=intent, difficulty=difficulty, edge_case=edge)
    template = rng.choice(TEMPLATES[intent][difficulty])
    text = _fill(rng, template, capitalise=edge != "long")  # a long query's base sits mid-sentence
    if edge == "long":
        text = _lengthen(rng, text, template, intent)
    elif edge == "typo":
        text = _typos(rng, text)
    return SyntheticQuery(text=text, intent=intent, difficulty=difficulty, edge_case=edge)


_SLOT = re.compile(r"\{(\w+)\}")


@cache
def _slots(template: str) -> tuple[str, ...]:
    return tuple(_SLOT.findall(template))


def _vocabulary(slot: str, language: str | None) -> tuple[str, ...]:
    """``{instrument2}`` reads the ``instrument`` list; foreign templates read their language's lists."""
    base = slot.rstrip("0123456789")
    if language is not None and base in FOREIGN_VOCAB.get(language, {}):
        return FOREIGN_VOCAB[language][base]
    return getattr(vocab, _SLOT_LISTS[base])


def _fill(rng: random.Random, template: str, language: str | None = None, *, capitalise: bool = True) -> str:
    values: dict[str, str] = {}
    for slot in _slots(template):
        choices = _vocabulary(slot, language)
        value = rng.choice(choices)
        # Two slots of the same kind (instrument, instrument2) should not repeat a value.
        while value in values.values() and len(choices) > 1:
            value = rng.choice(choices)
        values[slot] = value
    text = template.format(**values)
    if language is None:
        text = _A_BEFORE_VOWEL.sub(r"\1n", text)
    # Real users capitalise inconsistently; a share of queries start with a capital.
    return text[0].upper() + text[1:] if capitalise and rng.random() < 0.3 else text


_A_BEFORE_VOWEL = re.compile(r"\b([Aa])(?= [aeiouAEIOU])")


def _lengthen(rng: random.Random, text: str, template: str, intent: str) -> str:
    """A rambling query: a lead-in, the base query, and two more clauses pointing the same way.

    Clauses that reuse a slot kind of the base template are skipped, so a query never names two
    different upload dates or channels.
    """
    used = {slot.rstrip("0123456789") for slot in _slots(template)}
    kinds = rng.sample(_MODALITY_KINDS, 2) if intent == "mixed" else [intent, intent]
    pools = [
        [c for c in ELABORATIONS[kind] if not used & {s.rstrip("0123456789") for s in _slots(c)}]
        for kind in kinds
    ]
    first = rng.choice(pools[0] or ELABORATIONS[kinds[0]])
    second_pool = [c for c in pools[1] if c != first] or [c for c in ELABORATIONS[kinds[1]] if c != first]
    clauses = [_fill(rng, first, capitalise=False), _fill(rng, rng.choice(second_pool), capitalise=False)]
    return f"{rng.choice(_LEAD_INS)} {text}, {clauses[0]}, and {clauses[1]}"


_MODALITY_KINDS = ("visual", "audio", "transcription", "metadata")
_LEAD_INS = (
    "I'm looking for a video where",
    "can you find the clip with",
    "there was this video,",
    "need footage:",
)


def _typos(rng: random.Random, text: str) -> str:
    """One or two keyboard slips (swap, drop or double a letter) in words longer than three letters."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
    for i in rng.sample(candidates, min(len(candidates), rng.choice((1, 2)))):
        words[i] = _slip(
            words[i], rng.randrange(1, len(words[i]) - 1), rng.choice(("swap", "drop", "double"))
        )
    return " ".join(words)


def _slip(word: str, k: int, op: str) -> str:
    if op == "swap":
        return word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    if op == "drop":
        return word[:k] + word[k + 1 :]
    return word[:k] + word[k] + word[k:]


# Slot name -> vocabulary list name in :mod:`.vocab`.
_SLOT_LISTS = {
    "subject": "SUBJECTS",
    "action": "ACTIONS",
    "place": "PLACES",
    "colour": "COLOURS",
    "object": "OBJECTS",
    "scene": "SCENES",
    "time": "TIMES",
    "sign": "SIGNS",
    "sound": "SOUNDS",
    "instrument": "INSTRUMENTS",
    "style": "MUSIC_STYLES",
    "music_verb": "MUSIC_VERBS",
    "speaker": "SPEAKERS",
    "topic": "TOPICS",
    "format": "FORMATS",
    "quote": "QUOTES",
    "lyric": "LYRICS",
    "person": "PEOPLE",
    "channel": "CHANNELS",
    "genre": "GENRES",
    "date": "DATES",
    "camera": "CAMERA",
    "mood": "MOODS",
    "licence": "LICENCES",
    "tag": "TAGS",
}
