"""A persistent request cache for teacher calls, so a rerun or a resumed job never pays twice.

A request is keyed by the sha256 of (teacher name, rendered messages, decoding parameters incl. the
seed). Entries live in one SQLite file in WAL mode: readers never block the writer, several threads
(one connection each) and several processes may share it, and a committed entry survives a SIGKILL.
A request asked with its top-k distributions (logit distillation) keeps them in a second table
under the same key, so the key (and every answer cached before) stays what it was. An answer the
teacher scored (:func:`cached_score`: teacher-forced on a given answer, e.g. one rewritten into a
student format) is kept in that table too, under a key that includes the scored text.

On a remote executor the SQLite file stays with the driver, its one writer: a :class:`ProbeCache`
collects the entries a record's requests find there, a worker answers through a :class:`CacheView`
seeded with them (recording the entries it adds), and the driver writes those with
:meth:`RequestCache.commit` - the same rows, in the same order, as a local run writes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from stillhouse import paths
from stillhouse.chat import (
    ChatModel,
    Completion,
    DistributionChatModel,
    GenerationParams,
    Message,
    ScoringChatModel,
    TokenDistribution,
)
from stillhouse.errors import InvalidInputError
from stillhouse.teacher.distributions import pack, unpack

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    key TEXT PRIMARY KEY,
    teacher TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS distributions (
    key TEXT PRIMARY KEY,
    top_k INTEGER NOT NULL,
    payload BLOB NOT NULL
)
"""


def default_cache_path() -> Path:
    """Where the teacher cache lives unless a path is given (``STILLHOUSE_HOME/cache/teacher.sqlite``)."""
    return paths.cache_dir() / "teacher.sqlite"


def cache_key(teacher: str, messages: list[Message], params: GenerationParams) -> str:
    """The sha256 that identifies one request: the same key means the same answer may be reused.

    Images enter through their own sha256 so the key stays small; every decoding parameter (seed,
    temperature, schema, token cap) is part of it because each can change the answer.
    """
    return _digest(
        {"teacher": teacher, "messages": _rendered(messages), "params": params.model_dump(mode="json")}
    )


def score_key(teacher: str, messages: list[Message], answer: str) -> str:
    """The sha256 of one scoring request: the conversation and the answer scored after it (no
    decoding parameters: teacher forcing decodes nothing). Never equal to a :func:`cache_key`."""
    return _digest({"teacher": teacher, "messages": _rendered(messages), "scored": answer})


def _digest(payload: dict[str, object]) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _rendered(messages: list[Message]) -> list[dict[str, object]]:
    return [
        {
            "role": m.role,
            "content": m.content,
            "images": [[img.format, hashlib.sha256(img.data).hexdigest()] for img in m.images],
        }
        for m in messages
    ]


class RequestCache:
    """SQLite-backed map from :func:`cache_key` to the teacher's :class:`Completion`.

    Thread-safe (a connection per thread) and process-safe (SQLite locking, WAL, a busy timeout).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a process kill (only an OS crash may lose the last commits).
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or ``None``."""
        row = self._conn().execute("SELECT completion FROM requests WHERE key = ?", (key,)).fetchone()
        return Completion.model_validate_json(row[0]) if row else None

    def put(self, key: str, teacher: str, completion: Completion) -> None:
        """Store an answer; the first writer of a key wins, so concurrent writers never clash."""
        with self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO requests (key, teacher, completion, created) VALUES (?, ?, ?, ?)",
                (key, teacher, completion.model_dump_json(), time.time()),
            )

    def get_distribution(self, key: str, top_k: int) -> TokenDistribution | None:
        """The stored distributions of ``key``'s answer when at least ``top_k`` wide, else ``None``."""
        row = (
            self._conn()
            .execute("SELECT payload FROM distributions WHERE key = ? AND top_k >= ?", (key, top_k))
            .fetchone()
        )
        return unpack(row[0]) if row else None

    def put_answer_with_distribution(
        self, key: str, teacher: str, completion: Completion, dist: TokenDistribution, top_k: int
    ) -> None:
        """Store an answer with its distributions. Both replace what the key held, so the answer
        and its distributions always agree (a wider top-k replaces a narrower one)."""
        with self._conn() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO requests (key, teacher, completion, created) VALUES (?, ?, ?, ?)",
                (key, teacher, completion.model_dump_json(), time.time()),
            )
            conn.execute(
                "INSERT OR REPLACE INTO distributions (key, top_k, payload) VALUES (?, ?, ?)",
                (key, top_k, pack(dist)),
            )

    def put_distribution(self, key: str, dist: TokenDistribution, top_k: int) -> None:
        """Store a scored answer's distributions (a wider top-k replaces a narrower one)."""
        with self._conn() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO distributions (key, top_k, payload) VALUES (?, ?, ?)",
                (key, top_k, pack(dist)),
            )

    def commit(self, entries: list[CacheEntry]) -> None:
        """Write what a remote worker's requests added, as :meth:`put` and
        :meth:`put_answer_with_distribution` would have written it there."""
        for entry in entries:
            if entry.completion is None:
                assert entry.distribution is not None  # a scored answer
                self.put_distribution(entry.key, entry.distribution, entry.top_k)
            elif entry.distribution is None:
                self.put(entry.key, entry.teacher, entry.completion)
            else:
                self.put_answer_with_distribution(
                    entry.key, entry.teacher, entry.completion, entry.distribution, entry.top_k
                )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM requests").fetchone()[0])

    def close(self) -> None:
        """Close every connection this cache opened (from any thread)."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> RequestCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CacheEntry(BaseModel):
    """One request's cached answer (with its distributions when it was asked for them), or a
    scored answer's distributions alone (no completion: :func:`cached_score`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    teacher: str
    completion: Completion | None
    distribution: TokenDistribution | None = None
    top_k: int = 0


class CacheView:
    """The request cache as a remote worker sees it: ``seed`` (the entries the driver found for
    this record) in memory, and ``added``, the entries its requests wrote, for the driver to commit."""

    def __init__(self, seed: list[CacheEntry]) -> None:
        self._entries = {entry.key: entry for entry in seed}
        self.added: list[CacheEntry] = []

    def get(self, key: str) -> Completion | None:
        entry = self._entries.get(key)
        return entry.completion if entry else None

    def get_distribution(self, key: str, top_k: int) -> TokenDistribution | None:
        entry = self._entries.get(key)
        return entry.distribution if entry and entry.distribution and entry.top_k >= top_k else None

    def put(self, key: str, teacher: str, completion: Completion) -> None:
        self._add(CacheEntry(key=key, teacher=teacher, completion=completion), replace=False)

    def put_answer_with_distribution(
        self, key: str, teacher: str, completion: Completion, dist: TokenDistribution, top_k: int
    ) -> None:
        entry = CacheEntry(key=key, teacher=teacher, completion=completion, distribution=dist, top_k=top_k)
        self._add(entry, replace=True)

    def put_distribution(self, key: str, dist: TokenDistribution, top_k: int) -> None:
        self._add(
            CacheEntry(key=key, teacher="", completion=None, distribution=dist, top_k=top_k), replace=True
        )

    def _add(self, entry: CacheEntry, *, replace: bool) -> None:
        if replace or entry.key not in self._entries:  # INSERT OR REPLACE / INSERT OR IGNORE
            self._entries[entry.key] = entry
        self.added.append(entry)


class ProbeCache:
    """Reads ``cache`` and keeps every entry found (``found``): the seed of a record's
    :class:`CacheView`. It writes nothing; its model is a stand-in that answers no request."""

    def __init__(self, cache: RequestCache) -> None:
        self.cache = cache
        self.found: dict[str, CacheEntry] = {}

    def get(self, key: str) -> Completion | None:
        hit = self.cache.get(key)
        if hit is not None and key not in self.found:
            self.found[key] = CacheEntry(key=key, teacher="", completion=hit)
        return hit

    def get_distribution(self, key: str, top_k: int) -> TokenDistribution | None:
        dist = self.cache.get_distribution(key, top_k)
        completion = self.cache.get(key) if dist is not None else None
        if dist is not None:  # with no completion: a scored answer's (cached_score)
            self.found[key] = CacheEntry(
                key=key, teacher="", completion=completion, distribution=dist, top_k=top_k
            )
        return dist


class CacheMiss(Exception):  # noqa: N818 - a signal, not an error: not a StillhouseError, never retried
    """A :class:`CacheOnly` model was asked: the request is not in the cache."""


class CacheOnly:
    """A stand-in for the teacher named ``name`` that answers nothing (:class:`CacheMiss`): asked
    through a :class:`ProbeCache`, a record's requests go as far as the cache answers them."""

    supports_json_schema = True

    def __init__(self, name: str) -> None:
        self.name = name

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        raise CacheMiss(self.name)

    def generate_with_distribution(
        self, messages: list[Message], params: GenerationParams, top_k: int
    ) -> tuple[Completion, TokenDistribution]:
        raise CacheMiss(self.name)

    def score_answer(self, messages: list[Message], answer: str, top_k: int) -> TokenDistribution:
        raise CacheMiss(self.name)


def cached_generate(
    model: ChatModel, messages: list[Message], params: GenerationParams, cache: RequestCache | None
) -> tuple[Completion, bool]:
    """Answer from the cache when possible, else ask ``model`` and store the answer.

    Returns ``(completion, from_cache)``. Errors are not cached: a timeout is retried next time.
    """
    if cache is None:
        return model.generate(messages, params), False
    key = cache_key(model.name, messages, params)
    hit = cache.get(key)
    if hit is not None:
        return hit, True
    completion = model.generate(messages, params)
    cache.put(key, model.name, completion)
    return completion, False


class CachedModel:
    """A model whose every answer goes through ``cache`` (same name, same schema support)."""

    def __init__(self, model: ChatModel, cache: RequestCache) -> None:
        self.model, self.cache = model, cache
        self.name = model.name
        self.supports_json_schema = model.supports_json_schema

    def generate(self, messages: list[Message], params: GenerationParams) -> Completion:
        return cached_generate(self.model, messages, params, self.cache)[0]


def cached_generate_with_distribution(
    model: ChatModel,
    messages: list[Message],
    params: GenerationParams,
    cache: RequestCache | None,
    top_k: int,
) -> tuple[Completion, TokenDistribution, bool]:
    """:func:`cached_generate` that also returns the answer's top-``top_k`` distributions.

    A cached answer without distributions (labelled before they were asked for) is asked again:
    only the model's own decoding gives them. Raises :class:`InvalidInputError` for a teacher that
    cannot return distributions.
    """
    if not isinstance(model, DistributionChatModel):
        raise InvalidInputError(
            f"teacher {model.name!r} cannot return token log-probabilities; logit distillation needs "
            "a llama.cpp, transformers or OpenAI-compatible teacher",
            field="top_logprobs",
        )
    key = cache_key(model.name, messages, params)
    if cache is not None:
        hit, dist = cache.get(key), cache.get_distribution(key, top_k)
        if hit is not None and dist is not None and dist.text == hit.text:
            return hit, dist, True
    completion, dist = model.generate_with_distribution(messages, params, top_k)
    if cache is not None:
        cache.put_answer_with_distribution(key, model.name, completion, dist, top_k)
    return completion, dist, False


def cached_score(
    model: ChatModel, messages: list[Message], answer: str, cache: RequestCache | None, top_k: int
) -> tuple[TokenDistribution, bool]:
    """The teacher's top-``top_k`` distributions at each token of ``answer`` as its reply to
    ``messages`` (:meth:`ScoringChatModel.score_answer`), from the cache when scored before.

    Returns ``(distribution, from_cache)``. Raises :class:`InvalidInputError` for a teacher that
    cannot score an answer.
    """
    if not isinstance(model, ScoringChatModel):
        raise InvalidInputError(
            f"teacher {model.name!r} cannot score a given answer; distributions of rewritten answers "
            "need a llama.cpp or transformers teacher",
            field="top_logprobs",
        )
    key = score_key(model.name, messages, answer)
    hit = cache.get_distribution(key, top_k) if cache is not None else None
    if hit is not None and hit.text == answer:
        return hit, True
    dist = model.score_answer(messages, answer, top_k)
    if cache is not None:
        cache.put_distribution(key, dist, top_k)
    return dist, False
