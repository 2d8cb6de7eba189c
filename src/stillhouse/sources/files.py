"""The raw lines of a JSONL file, a folder of them, or the same under an ``s3://`` URI.

A folder (or an ``s3://`` prefix) is read as its ``*.jsonl`` files in sorted order; line numbers
restart at 1 in each file and each line carries its file's name, so a report points at the exact
line of the exact file. Everything streams: one line is in memory at a time. Turning lines into
records is :func:`stillhouse.sources.dataset.read_dataset`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, NamedTuple

from stillhouse.errors import InvalidInputError, NotFoundError
from stillhouse.sources.objectstore import ObjectStore, open_store

_BOM = b"\xef\xbb\xbf"
_GZIP = b"\x1f\x8b"


class SourceLine(NamedTuple):
    """One raw line of a source. ``file`` is ``None`` when the source is a single file."""

    file: str | None
    line: int
    raw: bytes | None  # None for a blank line


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """``(line number, raw bytes)`` for each line of a binary stream; ``None`` for a blank line."""
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]  # editors on Windows add one; it is not part of the record
        if number == 1 and raw.startswith(_GZIP):
            yield number, _GZIP  # one problem for the file, not one per line of compressed bytes
            return
        stripped = raw.strip()
        yield number, (stripped if stripped else None)


def _open(path: Path) -> IO[bytes]:
    """Open a JSONL file for reading, with errors that name the path."""
    try:
        return path.open("rb")
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such file: {path}", field="path") from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", field="path") from exc


def jsonl_files(folder: Path) -> list[Path]:
    """The ``*.jsonl`` files directly inside ``folder``, sorted by name."""
    files = sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    if not files:
        raise NotFoundError(f"no .jsonl files in folder {folder}", field="path")
    return files


def _local_streams(path: Path) -> Iterator[tuple[str | None, AbstractContextManager[IO[bytes]]]]:
    if not path.exists():
        raise NotFoundError(f"no such file or folder: {path}", field="path")
    if not path.is_dir():
        yield None, _open(path)
        return
    for file in jsonl_files(path):
        yield file.name, _open(file)


def _s3_streams(
    uri: str, store: ObjectStore
) -> Iterator[tuple[str | None, AbstractContextManager[IO[bytes]]]]:
    has_key = bool(uri.removeprefix("s3://").partition("/")[2])
    if has_key and not uri.endswith("/") and store.exists(uri):
        yield None, store.open_read(uri)
        return
    prefix = uri if uri.endswith("/") else uri + "/"
    # Only objects directly under the prefix, as for a local folder.
    uris = [u for u in store.list(prefix) if u.endswith(".jsonl") and "/" not in u[len(prefix) :]]
    if not uris:
        raise NotFoundError(f"no such object and no .jsonl objects under {uri}", field="uri")
    for object_uri in uris:
        yield object_uri[len(prefix) :], store.open_read(object_uri)


def source_size(location: str | Path, store: ObjectStore | None = None) -> int:
    """The bytes a dataset holds (its file, or the ``*.jsonl`` files it would read), without reading
    them, so an oversize dataset is refused before its first line."""
    if isinstance(location, str) and location.startswith("s3://"):
        store = store or open_store()
        size = getattr(store, "size", None)
        if size is None:  # a store that cannot tell sizes cheaply
            return 0
        uri = location
        if uri.removeprefix("s3://").partition("/")[2] and not uri.endswith("/") and store.exists(uri):
            return int(size(uri))
        prefix = uri if uri.endswith("/") else uri + "/"
        uris = [u for u in store.list(prefix) if u.endswith(".jsonl") and "/" not in u[len(prefix) :]]
        return sum(int(size(u)) for u in uris)
    path = Path(location)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.glob("*.jsonl") if p.is_file())
    return path.stat().st_size if path.is_file() else 0


def iter_source_lines(location: str | Path, store: ObjectStore | None = None) -> Iterator[SourceLine]:
    """Every line of a file, folder or ``s3://`` location, with its file name and line number."""
    if isinstance(location, str) and location.startswith("s3://"):
        streams = _s3_streams(location, store or open_store())
    else:
        streams = _local_streams(Path(location))
    for name, opened in streams:
        with opened as stream:
            for number, raw in iter_lines(stream):
                yield SourceLine(name, number, raw)
