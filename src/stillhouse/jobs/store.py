"""SQLite (WAL) persistence of jobs, custom models, deployments and provisioned models, plus job leases for workers.

Each row keeps the resource's full wire document as JSON (``doc``) next to the few columns that are
filtered, sorted or locked on. Writes that read-modify-write run inside ``BEGIN IMMEDIATE`` so a
server process and several worker processes can share one database file safely.

Leases: a worker claims a live job by writing ``lease_owner``/``lease_expires``; it renews the lease
while it works (heartbeat). A job whose lease expired (its worker or host died) is claimable again,
which is how a crashed job resumes.

Kinds: the ``jobs`` table holds every kind of job (``kind``: customization, batch inference,
evaluation), claimed and leased alike. Bedrock scopes job names and client tokens per kind, so the
``name`` and ``client_token`` columns of a kind other than customization carry ``<kind>:`` before
the value (:func:`scoped`); customization rows keep theirs bare, as databases made before kinds did.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from stillhouse.errors import ConflictError, InvalidInputError
from stillhouse.jobs.arns import split_arn

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, client_token TEXT UNIQUE, request_hash TEXT NOT NULL,
    status TEXT NOT NULL, created REAL NOT NULL, doc TEXT NOT NULL, request TEXT NOT NULL,
    progress TEXT NOT NULL DEFAULT '{}',
    lease_owner TEXT, lease_expires REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    kind TEXT NOT NULL DEFAULT 'customization');
CREATE TABLE IF NOT EXISTS custom_models (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, arn TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    status TEXT NOT NULL, doc TEXT NOT NULL, model_dir TEXT, job_id TEXT);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, arn TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    status TEXT NOT NULL, model_arn TEXT NOT NULL, doc TEXT NOT NULL, client_token TEXT UNIQUE,
    request_hash TEXT);
CREATE TABLE IF NOT EXISTS provisioned (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, arn TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    status TEXT NOT NULL, model_arn TEXT NOT NULL, doc TEXT NOT NULL, client_token TEXT UNIQUE,
    request_hash TEXT);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created, id);
CREATE INDEX IF NOT EXISTS jobs_kind_created ON jobs (kind, created, id);
CREATE INDEX IF NOT EXISTS models_created ON custom_models (created, id);
CREATE INDEX IF NOT EXISTS deployments_created ON deployments (created, id);
CREATE INDEX IF NOT EXISTS provisioned_created ON provisioned (created, id);
"""
CUSTOMIZATION = "customization"
# Statuses a worker may claim: a batch job waits in Submitted..Scheduled before it runs.
_KIND_INDEX = "CREATE INDEX IF NOT EXISTS jobs_kind_created ON jobs (kind, created, id);"
LIVE = ("Submitted", "Validating", "Scheduled", "InProgress", "Stopping")


def scoped(kind: str, value: str | None) -> str | None:
    """The stored form of a per-kind name or token (customization's stays bare)."""
    return value if value is None or kind == CUSTOMIZATION else f"{kind}:{value}"


@dataclass(frozen=True)
class Page:
    """A listing query: SQL conditions, order, size and an opaque resume token."""

    where: list[str]
    params: list[Any]
    descending: bool
    limit: int
    token: str | None


def encode_token(created: float, row_id: str) -> str:
    """An opaque paging token: the sort key of the last row returned."""
    raw = json.dumps([created, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[float, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        created, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return float(created), str(row_id)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError("invalid pagination token", field="nextToken") from exc


def epoch(moment: datetime) -> float:
    return moment.timestamp()


def like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with SQL wildcards escaped."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def time_filters(after: Any, before: Any) -> tuple[list[str], list[Any]]:
    """SQL conditions for a creation-time window (both bounds exclusive, as Bedrock's)."""
    where: list[str] = []
    params: list[Any] = []
    if after is not None:
        where.append("created > ?")
        params.append(epoch(after))
    if before is not None:
        where.append("created < ?")
        params.append(epoch(before))
    return where, params


@dataclass(frozen=True)
class ListQuery:
    """A listing in store terms: creation-time window, status, name filter, paging (Bedrock's list
    parameters). ``extra`` holds (SQL condition, parameter) pairs; an empty parameter is no filter,
    as an absent request field is none."""

    after: Any = None
    before: Any = None
    status: str | None = None
    name_contains: str | None = None
    descending: bool = True
    limit: int = 100
    token: str | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(
        cls, request: Any, after: Any, before: Any, status: str | None, *extra: tuple[str, Any]
    ) -> ListQuery:
        """The listing a Bedrock ``List*`` request asks: the time window and status under its own
        names, the name filter and paging as every one of them spells them."""
        return cls(
            after,
            before,
            status,
            request.nameContains,
            request.sortOrder == "Descending",
            request.maxResults,
            request.nextToken,
            extra,
        )

    def as_page(self, kind: str | None = None) -> Page:
        """The :class:`Page` of this listing (of one job kind's rows when ``kind`` is given)."""
        where, params = time_filters(self.after, self.before)
        filters = [
            ("kind = ?", kind),
            ("status = ?", self.status),
            ("name LIKE ? ESCAPE '\\'", self.name_contains and like(self.name_contains)),
            *self.extra,
        ]
        for condition, value in filters:
            if value:
                where.append(condition)
                params.append(value)
        return Page(where, params, self.descending, self.limit, self.token)


def request_digest(request: Any) -> str:
    """Fingerprint of a create request minus its token: same token + same digest = the same call retried."""
    body = request.model_dump(mode="json", exclude={"clientRequestToken"}, exclude_none=True)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def replayed(db: sqlite3.Connection, table: str, token: str | None, digest: str) -> sqlite3.Row | None:
    """The row an earlier create with this client token made (the call retried); ``None`` for a new
    or absent token. The token used before for another request is Bedrock's ConflictException."""
    if not token:
        return None
    row = db.execute(f"SELECT * FROM {table} WHERE client_token = ?", (token,)).fetchone()
    if row is not None and row["request_hash"] != digest:
        raise ConflictError(
            "clientRequestToken was already used for a different request", field="clientRequestToken"
        )
    return row


@dataclass(frozen=True)
class ServedRow:
    """A new row of ``deployments`` or ``provisioned``: a resource serving a model, and its document."""

    row_id: str
    name: str
    arn: str
    created: Any
    status: str
    model_arn: str
    doc: str
    client_token: str | None
    request_hash: str


@dataclass(frozen=True)
class JobRow:
    """A new row of the ``jobs`` table: the resource's document and the columns kept beside it."""

    job_id: str
    kind: str
    name: str
    client_token: str | None
    request_hash: str
    status: str
    created: float
    doc: str
    request: str


class Store:
    """One SQLite database file; a short-lived connection per operation (safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA.replace(_KIND_INDEX, ""))
            columns = {row["name"] for row in db.execute("PRAGMA table_info(jobs)")}
            if "kind" not in columns:  # a database from before job kinds: every row is a customization
                db.execute("ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'customization'")
            db.execute(_KIND_INDEX)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the database's write lock from its first statement."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._connect() as db:
            return db.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def page(self, table: str, page: Page) -> tuple[list[sqlite3.Row], str | None]:
        """Rows of ``table`` for one listing page, sorted by (created, id), and the next token."""
        where, params = list(page.where), list(page.params)
        if page.token:
            created, row_id = decode_token(page.token)
            where.append("(created, id) < (?, ?)" if page.descending else "(created, id) > (?, ?)")
            params += [created, row_id]
        order = "DESC" if page.descending else "ASC"
        sql = f"SELECT * FROM {table}" + (f" WHERE {' AND '.join(where)}" if where else "")
        rows = self.query(f"{sql} ORDER BY created {order}, id {order} LIMIT ?", [*params, page.limit + 1])
        if len(rows) <= page.limit:
            return rows, None
        last = rows[page.limit - 1]
        return rows[: page.limit], encode_token(last["created"], last["id"])

    def find(self, table: str, identifier: str, arn_type: str, kind: str | None = None) -> sqlite3.Row | None:
        """The row of ``table`` whose ARN, name or id is ``identifier`` (in the ``jobs`` table, of
        job ``kind``, whose names are :func:`scoped`); ``None`` when there is none."""
        parts = split_arn(identifier)
        key = parts[1] if parts and parts[0] == arn_type else identifier
        if kind is not None:
            sql = "SELECT * FROM jobs WHERE kind = ? AND (id = ? OR name = ?)"
            return self.one(sql, (kind, key, scoped(kind, key)))
        return self.one(
            f"SELECT * FROM {table} WHERE arn = ? OR name = ? OR id = ?", (identifier, identifier, key)
        )

    # ---------------------------------------------------------------------------------- jobs

    def update_job(
        self,
        job_id: str,
        change: Callable[[dict[str, Any], bool], dict[str, Any]],
        *,
        progress: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Read-modify-write a job document atomically. ``change(doc, leased)`` gets the current doc
        and whether a worker holds a live lease on the job, and returns the new doc."""
        with self.transaction() as db:
            row = db.execute("SELECT doc, lease_expires FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            doc = change(json.loads(row["doc"]), row["lease_expires"] >= time.time())
            db.execute(
                "UPDATE jobs SET doc = ?, status = ? WHERE id = ?", (json.dumps(doc), doc["status"], job_id)
            )
            if progress is not None:
                db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))
            return doc

    def save_progress(self, job_id: str, progress: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET progress = ? WHERE id = ?", (json.dumps(progress), job_id))

    def claim_job(self, owner: str, lease_seconds: float) -> tuple[str, int] | None:
        """Lease the oldest live job (of any kind) nobody holds; returns ``(job id, attempt number)``."""
        now = time.time()
        with self.transaction() as db:
            row = db.execute(
                f"SELECT id, attempts FROM jobs WHERE status IN ({', '.join('?' * len(LIVE))}) "
                "AND lease_expires < ? ORDER BY created, id LIMIT 1",
                (*LIVE, now),
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET lease_owner = ?, lease_expires = ?, attempts = attempts + 1 WHERE id = ?",
                (owner, now + lease_seconds, row["id"]),
            )
            return row["id"], row["attempts"] + 1

    def renew_lease(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend a held lease; ``False`` when the lease was lost (taken over after expiring)."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ?",
                (time.time() + lease_seconds, job_id, owner),
            )
            return cur.rowcount == 1

    def release_lease(self, job_id: str, owner: str, *, forgive: bool = False) -> None:
        """Let go of a job; ``forgive`` un-counts the attempt (a graceful shutdown is not a crash)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires = 0, attempts = attempts - ? "
                "WHERE id = ? AND lease_owner = ?",
                (int(forgive), job_id, owner),
            )

    def job_kind(self, job_id: str) -> str:
        row = self.one("SELECT kind FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise KeyError(job_id)
        return str(row["kind"])

    def insert_served(self, db: sqlite3.Connection, table: str, row: ServedRow) -> None:
        """Insert a deployment or provisioned model (inside the caller's transaction, after its checks)."""
        db.execute(
            f"INSERT INTO {table} (id, name, arn, created, status, model_arn, doc, client_token, request_hash) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (row.row_id, row.name, row.arn, epoch(row.created), row.status, row.model_arn, row.doc,
             row.client_token, row.request_hash),
        )  # fmt: skip

    def insert_job(self, db: sqlite3.Connection, row: JobRow) -> None:
        """Insert a new job row (inside the caller's transaction, after its idempotency checks)."""
        db.execute(
            "INSERT INTO jobs (id, kind, name, client_token, request_hash, status, created, doc, request) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            (
                row.job_id,
                row.kind,
                scoped(row.kind, row.name),
                scoped(row.kind, row.client_token),
                row.request_hash,
                row.status,
                row.created,
                row.doc,
                row.request,
            ),
        )

    def lease_held(self, job_id: str) -> bool:
        row = self.one("SELECT lease_expires FROM jobs WHERE id = ?", (job_id,))
        return row is not None and row["lease_expires"] >= time.time()
