"""Data synthesis: new prompts from the given ones (paraphrases and variations), deduplicated.

The teacher is shown a few sampled seed prompts and asked for a numbered list of new ones. The
prompt rendering and the list parser are pure; near-duplicates are dropped by normalised text and by
embedding cosine, and every request goes through the request cache like labelling does.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from stillhouse.chat import ChatModel, GenerationParams, Message
from stillhouse.errors import InvalidInputError
from stillhouse.models.embeddings import Embedder
from stillhouse.progress import progress_bar
from stillhouse.records.rules import RESERVED_STRINGS
from stillhouse.records.schema import ConversationRecord
from stillhouse.tasks.base import Task
from stillhouse.teacher.cache import RequestCache, cached_generate
from stillhouse.teacher.consensus import RECORD_ERRORS
from stillhouse.teacher.golden import query_text
from stillhouse.teacher.retry import RetryExhausted, RetryPolicy, Sleep, call_with_retry

MAX_PROMPTS = 15_000  # SPEC §1.4: synthesis tops a dataset up to at most 15,000 prompts
_BULLET = re.compile(r"^\s*(?:\(?\d{1,4}[.):\]]|[-*•>])\s+")
_QUOTES = "\"'“”‘’`"
_RESERVED = re.compile("|".join(re.escape(s) for s in RESERVED_STRINGS), re.IGNORECASE)

SYNTHESIS_SYSTEM = (
    "You write new, realistic user requests for a dataset. You answer with a numbered list only: "
    "one request per line, no headings, no explanations."
)


def render_synthesis_prompt(
    examples: Sequence[str], count: int, *, task: Task | None = None
) -> list[Message]:
    """The teacher's conversation asking for ``count`` variations of ``examples`` (pure)."""
    shown = "\n".join(f"- {' '.join(ex.split())}" for ex in examples)
    context = (
        f"The requests are answered under this instruction:\n{task.system_prompt[:1200]}\n\n" if task else ""
    )
    ask = (
        f"{context}Example requests:\n{shown}\n\n"
        f"Write {count} new requests in the same spirit: paraphrases and variations that differ in wording, "
        "length, specificity and intent. Include a few edge cases: quoted speech, named people, dates, "
        "a non-English request, a typo, a very short and a very long one. Do not repeat the examples."
    )
    return [Message(role="system", content=SYNTHESIS_SYSTEM), Message(role="user", content=ask)]


def parse_prompt_list(text: str) -> list[str]:
    """The prompts in a teacher's list answer: numbered/bulleted lines or a JSON array (pure).

    Headings (lines ending in ':'), empty items and items with reserved chat markers are dropped.
    """
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
            lines = [str(item) for item in items] if isinstance(items, list) else []
        except json.JSONDecodeError:
            lines = stripped.splitlines()
    else:
        lines = stripped.splitlines()
    out = []
    for line in lines:
        item = _BULLET.sub("", line).strip().strip(_QUOTES).strip()
        if item and not item.endswith(":") and not item.startswith("```") and not _RESERVED.search(item):
            out.append(item)
    return out


def normalise_text(text: str) -> str:
    """Case-, punctuation- and spacing-insensitive form used for exact-duplicate detection."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


class Deduper:
    """Accepts texts that are new both by normalised text and by embedding (cosine <= threshold)."""

    def __init__(self, embedder: Embedder, threshold: float, existing: Sequence[str] = ()) -> None:
        self.embedder, self.threshold = embedder, threshold
        self.seen: set[str] = set()
        self._vectors = np.zeros((0, 0), dtype=np.float32)  # grown by doubling: appends stay O(1)
        self._count = 0
        self.add(list(existing), force=True)

    def _append(self, vec: np.ndarray) -> None:
        if self._count == len(self._vectors):
            grown = np.zeros((max(64, 2 * self._count), vec.shape[0]), dtype=np.float32)
            if self._count:
                grown[: self._count] = self._vectors[: self._count]
            self._vectors = grown
        self._vectors[self._count] = vec
        self._count += 1

    def _is_near(self, vec: np.ndarray) -> bool:
        return self._count > 0 and float(np.max(self._vectors[: self._count] @ vec)) > self.threshold

    def add(self, texts: list[str], *, force: bool = False) -> list[str]:
        """Keep the new ones among ``texts`` (in order); ``force`` keeps all (the seed prompts)."""
        fresh = [t for t in dict.fromkeys(texts) if force or normalise_text(t) not in self.seen]
        if not fresh:
            return []
        vectors = np.asarray(self.embedder.embed(fresh), dtype=np.float32)
        kept = []
        for text, vec in zip(fresh, vectors, strict=True):
            if force or (normalise_text(text) not in self.seen and not self._is_near(vec)):
                kept.append(text)
                self.seen.add(normalise_text(text))
                self._append(vec)
        return kept


class SynthesisResult(BaseModel):
    """The new prompt records and what producing them took."""

    model_config = ConfigDict(extra="forbid")

    records: list[ConversationRecord]
    requested: int
    requests: int = 0
    teacher_calls: int = 0
    from_cache: int = 0
    duplicates: int = 0
    failed_requests: int = 0
    seconds: float = 0.0


def _seed_texts(prompts: Sequence[ConversationRecord | str]) -> tuple[list[str], str | None]:
    """The seed prompts' query texts and the system prompt most of them share (if any)."""
    texts = [p if isinstance(p, str) else query_text(p) for p in prompts]
    systems = Counter(p.system_text for p in prompts if not isinstance(p, str) and p.system_text)
    return [t for t in texts if t.strip()], (systems.most_common(1)[0][0] if systems else None)


def _record(text: str, system: str | None) -> ConversationRecord:
    data: dict = {"messages": [{"role": "user", "content": [{"text": text}]}]}
    if system:
        data["system"] = [{"text": system}]
    return ConversationRecord.model_validate(data)


def run_synthesis(
    prompts: Sequence[ConversationRecord | str],
    teacher: ChatModel,
    n: int,
    *,
    embedder: Embedder,
    task: Task | None = None,
    seed: int = 0,
    cache: RequestCache | Path | str | None = None,
    per_request: int = 10,
    shots: int = 5,
    threshold: float = 0.92,
    max_tokens: int = 1024,
    retry: RetryPolicy | None = None,
    sleep: Sleep = time.sleep,
    progress: bool = True,
) -> SynthesisResult:
    """Ask ``teacher`` for up to ``n`` new deduplicated prompts, ``per_request`` at a time.

    Each request shows ``shots`` seed prompts sampled with ``seed``; requests stop once ``n`` are kept
    or after ``3 * ceil(n / per_request) + 5`` requests (a teacher that only repeats itself).
    ``cache`` is a :class:`RequestCache`, a path to one, or ``None`` for the default one.
    """
    started = time.monotonic()
    seeds, system = _seed_texts(prompts)
    if not seeds:
        raise InvalidInputError("synthesis needs at least one seed prompt", field="prompts")
    if n < 1 or len(seeds) + n > MAX_PROMPTS:
        raise InvalidInputError(
            f"n must be 1..{MAX_PROMPTS - len(seeds)} (at most {MAX_PROMPTS} prompts)", field="n"
        )
    request_cache = cache if isinstance(cache, RequestCache) else RequestCache(cache)

    def ask(messages: list[Message], params: GenerationParams, rng: random.Random, result: SynthesisResult):
        return _ask(teacher, messages, params, request_cache, retry or RetryPolicy(), sleep, rng, result)

    result = SynthesisResult(records=[], requested=n)
    try:
        with progress_bar("synthesising", total=n, disable=not progress) as (bar, task_id):
            dedupe = Deduper(embedder, threshold, seeds)
            budget = 3 * math.ceil(n / per_request) + 5
            while len(result.records) < n and result.requests < budget:
                rng = random.Random(seed * 1_000_003 + result.requests)
                examples = rng.sample(seeds, min(shots, len(seeds)))
                messages = render_synthesis_prompt(examples, per_request, task=task)
                params = GenerationParams(max_tokens=max_tokens, temperature=0.9, seed=seed + result.requests)
                items = ask(messages, params, rng, result)
                kept = dedupe.add(items)[: n - len(result.records)]
                result.duplicates += len(items) - len(kept)
                result.records += [_record(text, system) for text in kept]
                info = f"requests {result.requests} · duplicates {result.duplicates}"
                bar.update(task_id, advance=len(kept), info=info)
    finally:
        if request_cache is not cache:
            request_cache.close()
    result.seconds = round(time.monotonic() - started, 3)
    return result


def _ask(
    teacher: ChatModel,
    messages: list[Message],
    params: GenerationParams,
    cache: RequestCache | None,
    retry: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
    result: SynthesisResult,
) -> list[str]:
    """One synthesis request (retried on transient errors); a persistent failure yields nothing."""
    result.requests += 1
    try:
        (completion, hit), _ = call_with_retry(
            lambda: cached_generate(teacher, messages, params, cache), retry, sleep=sleep, rng=rng
        )
    except (RetryExhausted, *RECORD_ERRORS):
        result.failed_requests += 1
        return []
    result.from_cache += int(hit)
    result.teacher_calls += int(not hit)
    return parse_prompt_list(completion.text)


def synthesize(
    prompts: Sequence[ConversationRecord | str],
    teacher: ChatModel,
    n: int,
    *,
    embedder: Embedder,
    task: Task | None = None,
    seed: int = 0,
    cache: RequestCache | Path | str | None = None,
    progress: bool = False,
) -> list[ConversationRecord]:
    """Up to ``n`` new prompt-only records varied from ``prompts`` (see :func:`run_synthesis`)."""
    return run_synthesis(
        prompts, teacher, n, embedder=embedder, task=task, seed=seed, cache=cache, progress=progress
    ).records
