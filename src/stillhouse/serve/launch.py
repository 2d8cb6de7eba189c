"""Running the server as ``stillhouse serve`` does: every resource it needs is checked first.

The listening socket is bound and the job database opened before anything says "serving on", so a
busy port or an unwritable ``--db`` is one :class:`~stillhouse.errors.InvalidInputError` (the CLI's
one-line message and exit code 2), never a traceback after a success message.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stillhouse.errors import InvalidInputError

if TYPE_CHECKING:
    from stillhouse.jobs.service import JobService
    from stillhouse.serve.settings import ServerSettings


@dataclass(frozen=True)
class LaunchConfig:
    """What ``serve`` needs beyond :class:`ServerSettings`."""

    db: Path | None = None
    job_workers: int = 1


def open_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (uvicorn serves on it), or a one-line error."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, OverflowError, UnicodeError) as exc:
        raise InvalidInputError(f"cannot listen on {host}:{port}: {exc}", field="host") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT port is free
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == 98 else (exc.strerror or str(exc))
        raise InvalidInputError(f"cannot listen on {host}:{port}: {reason}", field="port") from exc
    sock.set_inheritable(True)
    return sock


def open_jobs(db: Path | None) -> JobService:
    """The job service on ``db``, or a one-line error when it cannot be created or opened."""
    from stillhouse.jobs.service import JobService

    try:
        return JobService(db)
    except (OSError, sqlite3.Error) as exc:
        where = db if db is not None else "the default job database"
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InvalidInputError(f"cannot open the job database {where}: {reason}", field="db") from exc


def check_log_dir(folder: Path) -> None:
    """The invocation log's write-ahead folder exists and takes files (every call writes there)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-check"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InvalidInputError(
            f"cannot write invocation logs under {folder}: {reason}", field="invocation_log_wal_dir"
        ) from exc


def run_server(settings: ServerSettings, config: LaunchConfig, *, on_ready: Callable[[str], None]) -> None:
    """Bind, open the database, start the job workers, call ``on_ready(url)``, serve until stopped."""
    import uvicorn

    from stillhouse.jobs.worker import start_workers
    from stillhouse.serve.app import create_app

    sock = open_listener(settings.host, settings.port)
    try:
        jobs = open_jobs(config.db)
        check_log_dir(settings.log_wal_dir)
        pool = start_workers(jobs, config.job_workers) if config.job_workers > 0 else None
        try:
            port = sock.getsockname()[1]
            on_ready(f"http://{settings.host}:{port}")
            # A bounded graceful shutdown: queued generations could otherwise hold the exit for minutes.
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(settings, jobs=jobs), log_level="warning", timeout_graceful_shutdown=10
                )
            )
            server.run(sockets=[sock])
        finally:
            if pool is not None:
                pool.stop()
    finally:
        sock.close()
