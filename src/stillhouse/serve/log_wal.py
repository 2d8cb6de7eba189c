"""The invocation log's write-ahead file: each record is on disk (fsynced) before its call answers.

The writer batches records into gzip objects for the store (cheap per call, Bedrock's layout); this
file is what makes a batch that has not reached the store yet survive a ``kill -9``. Records are
appended as JSON lines to the current *segment*; a flush closes the segment, writes its records to
the store under a key derived from the segment's name and only then deletes it. At start-up every
segment left behind is written the same way. Because the key comes from the segment, writing one
twice (a crash between the store write and the delete) overwrites the same object: no duplicates.

A segment in use is held under an exclusive ``flock``, so a second server sharing the folder never
replays a live one's current segment.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from stillhouse.sources.invocation_logs import InvocationLogRecord

log = logging.getLogger(__name__)
SUFFIX = ".wal.jsonl"


def read_segment(path: Path) -> list[InvocationLogRecord]:
    """The records of one segment. A torn last line (the process died mid-append, before the call
    could answer) is skipped: its call never returned, so no caller was told it was logged."""
    records = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(InvocationLogRecord.model_validate_json(line))
        except ValidationError:
            log.warning("skipping unreadable line %d of invocation-log segment %s", number, path)
    return records


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteAheadLog:
    """Append-and-fsync segments under ``folder``.

    :meth:`append` and :meth:`rotate` run under the writer's lock; :meth:`sync` runs outside it, so
    callers that append while another's fsync is in progress are covered by the next single fsync
    (group commit) instead of queueing one fsync each.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._appended = 0  # records handed to the OS, over every segment
        self._synced = 0  # records known to be on disk
        self._sync_lock = threading.Lock()

    def append(self, record: InvocationLogRecord) -> int:
        """Write one record to the OS; returns its number, to pass to :meth:`sync`."""
        if self._file is None:
            self._open()
        assert self._file is not None
        self._file.write(record.to_json_line().encode("utf-8") + b"\n")
        self._file.flush()
        self._appended += 1
        return self._appended

    def sync(self, number: int) -> None:
        """Return once record ``number`` is on disk (the call's answer waits for this)."""
        with self._sync_lock:
            if self._synced >= number:
                return
            upto = self._appended  # everything counted was already written to the OS
            if self._file is not None:  # None only after a rotate, which synced everything
                os.fsync(self._file.fileno())
            self._synced = max(self._synced, upto)

    def rotate(self) -> Path | None:
        """Finish the current segment (a flush is about to store its records); return its path."""
        with self._sync_lock:
            if self._file is None:
                return None
            path, self._path = self._path, None
            os.fsync(self._file.fileno())
            self._synced = self._appended
            self._file.close()  # releases the flock: the segment is finished
            self._file = None
            return path

    def leftovers(self) -> list[Path]:
        """Segments a previous process left (oldest first), skipping any a live process holds."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in sorted(self.folder.glob("*" + SUFFIX)):
            if path == self._path:
                continue
            try:
                with path.open("rb") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another server's current segment
            except FileNotFoundError:
                continue  # another server stored and removed it meanwhile
            found.append(path)
        return found

    def close(self) -> None:
        with self._sync_lock:
            if self._file is not None:
                os.fsync(self._file.fileno())
                self._synced = self._appended
                self._file.close()
                self._file = None

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Time first, so that names sort in the order the records were written.
        path = self.folder / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        handle = path.open("ab")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(self.folder)  # the new name itself must survive a crash
        self._file, self._path = handle, path


def segment_batch_id(path: Path) -> str:
    """The store key's batch id for a segment's records (stable, so rewriting is idempotent)."""
    return path.name.removesuffix(SUFFIX)
