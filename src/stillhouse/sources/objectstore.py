"""``s3://bucket/key`` objects: a local folder by default, real S3 (or any S3 API) when configured.

The local store maps ``s3://bucket/key`` to ``paths.object_store_dir()/bucket/key``. Keys are
checked before they touch the disk (no ``..``, no empty parts, no absolute paths, only
``[\\w\\-/.]``) and the resolved path must stay under the root, so a record cannot point the store
at an arbitrary file. Writes go to a temporary file and are renamed into place, so a reader never
sees half an object.

``STILLHOUSE_S3_BACKEND=s3`` selects boto3 (``STILLHOUSE_S3_ENDPOINT`` for MinIO, LocalStack or a
test server); boto3 is imported only then.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from stillhouse import paths
from stillhouse.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    ServiceUnavailableError,
)
from stillhouse.outputs import atomic_file
from stillhouse.records.rules import s3_uri_problem
from stillhouse.records.schema import ImageBlock, ImageLoader


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; refuses anything that could escape the bucket."""
    why = s3_uri_problem(uri)
    if why:
        raise InvalidInputError(f"bad S3 URI {uri!r}: {why}", field="uri")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def parse_s3_prefix(uri: str) -> tuple[str, str]:
    """Like :func:`parse_s3_uri` but for listing: the key may be empty or end with ``/``."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    stem = key.removesuffix("/") if key else "_"  # check the prefix as if it were a key ('//' is not one)
    why = s3_uri_problem(f"s3://{bucket}/{stem}") if uri.startswith("s3://") else "must start with 's3://'"
    if why:
        raise InvalidInputError(f"bad S3 URI prefix {uri!r}: {why}", field="uri")
    return bucket, key


@runtime_checkable
class ObjectStore(Protocol):
    """What the pipeline needs from an object store; every method takes full ``s3://`` URIs."""

    def put_bytes(self, uri: str, data: bytes) -> None: ...
    def get_bytes(self, uri: str) -> bytes: ...
    def exists(self, uri: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, uri: str) -> None: ...
    def local_path(self, uri: str) -> Path: ...
    def open_read(self, uri: str) -> IO[bytes]: ...


class LocalObjectStore:
    """``s3://bucket/key`` as ``root/bucket/key`` on the local disk."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.object_store_dir()

    def local_path(self, uri: str) -> Path:
        """Where the object lives (or would live); never outside :attr:`root`."""
        bucket, key = parse_s3_uri(uri)
        path = self.root / bucket / key
        root = self.root.resolve()
        if not path.resolve().is_relative_to(root):  # a symlink inside the store pointing out
            raise InvalidInputError(f"S3 URI {uri!r} resolves outside the object store", field="uri")
        return path

    def put_bytes(self, uri: str, data: bytes) -> None:
        """Write atomically: a temporary file beside the target, then a rename."""
        path = self.local_path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(str(path))
            with atomic_file(path, "wb", suffix=".tmp-put") as out:
                out.write(data)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise ConflictError(f"cannot store {uri}: a key and a key prefix collide", field="uri") from exc

    def put_file(self, uri: str, source: Path) -> None:
        """Move a finished file on the store's own filesystem into place (one rename, so a reader
        never sees half of it): how the S3 API stores an upload it streamed to disk."""
        path = self.local_path(uri)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_dir():
                raise IsADirectoryError(str(path))
            os.replace(source, path)
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise ConflictError(f"cannot store {uri}: a key and a key prefix collide", field="uri") from exc

    def get_bytes(self, uri: str) -> bytes:
        with self.open_read(uri) as stream:
            return stream.read()

    def open_read(self, uri: str) -> IO[bytes]:
        """A binary stream over the object (iterate it for lines)."""
        path = self.local_path(uri)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"no such object: {uri}", field="uri") from exc

    def exists(self, uri: str) -> bool:
        return self.local_path(uri).is_file()

    def size(self, uri: str) -> int:
        """The object's length in bytes, without reading it."""
        return self.local_path(uri).stat().st_size

    def delete(self, uri: str) -> None:
        """Remove an object; deleting a missing one is not an error (as in S3). Folders it leaves
        empty go too, so the key prefix it was under can become a key again (as in S3)."""
        path = self.local_path(uri)
        if path.is_file():
            path.unlink()
            bucket_dir = self.root / parse_s3_uri(uri)[0]
            for parent in path.parents:
                if parent == bucket_dir or not parent.is_relative_to(bucket_dir):
                    break
                try:
                    parent.rmdir()
                except OSError:  # not empty: another object lives below it
                    break

    def list(self, prefix: str) -> list[str]:
        """Sorted URIs of the objects whose key starts with the prefix's key (S3 semantics)."""
        bucket, key_prefix = parse_s3_prefix(prefix)
        base = self.root / bucket
        start = base / key_prefix.rpartition("/")[0]  # walk only the folder the prefix lies in
        if not start.is_dir():
            return []
        keys = (p.relative_to(base).as_posix() for p in start.rglob("*") if p.is_file())
        return sorted(f"s3://{bucket}/{k}" for k in keys if k.startswith(key_prefix) and not is_temp_key(k))


def is_temp_key(key: str) -> bool:
    """An in-flight write of :meth:`LocalObjectStore.put_bytes` (never listed)."""
    name = key.rsplit("/", 1)[-1]
    return name.startswith(".") and name.endswith(".tmp-put")


class S3ObjectStore:
    """The same interface over a boto3 S3 client (real S3, MinIO, LocalStack, moto)."""

    def __init__(self, client: Any, cache_root: str | Path | None = None) -> None:
        self.client = client
        self.cache_root = Path(cache_root) if cache_root is not None else paths.cache_dir() / "s3"

    def put_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = parse_s3_uri(uri)
        with _translate_s3_errors(uri):
            self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def open_read(self, uri: str) -> IO[bytes]:
        """A buffered stream over the object's body: lines are read without fetching it whole."""
        bucket, key = parse_s3_uri(uri)
        with _translate_s3_errors(uri):
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        return io.BufferedReader(body)

    def get_bytes(self, uri: str) -> bytes:
        with self.open_read(uri) as stream, _translate_s3_errors(uri):
            return stream.read()

    def size(self, uri: str) -> int:
        """The object's length in bytes (a HEAD request, no download)."""
        bucket, key = parse_s3_uri(uri)
        with _translate_s3_errors(uri):
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def exists(self, uri: str) -> bool:
        bucket, key = parse_s3_uri(uri)
        try:
            with _translate_s3_errors(uri):
                self.client.head_object(Bucket=bucket, Key=key)
        except NotFoundError:
            return False
        return True

    def delete(self, uri: str) -> None:
        bucket, key = parse_s3_uri(uri)
        with _translate_s3_errors(uri):
            self.client.delete_object(Bucket=bucket, Key=key)

    def list(self, prefix: str) -> list[str]:
        bucket, key_prefix = parse_s3_prefix(prefix)
        uris: list[str] = []
        with _translate_s3_errors(prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key_prefix
            ):
                uris += (f"s3://{bucket}/{obj['Key']}" for obj in page.get("Contents", []))
        return sorted(uris)

    def local_path(self, uri: str) -> Path:
        """Download the object into the local cache (for libraries that want a file path).

        The copy is reused while it exists: objects the pipeline reads (datasets, images) are written
        once and not changed in place. Delete the cache folder to force a fresh download.
        """
        bucket, key = parse_s3_uri(uri)
        path = self.cache_root / bucket / key
        if not path.is_file():
            LocalObjectStore(self.cache_root).put_bytes(uri, self.get_bytes(uri))
        return path


@contextmanager
def _translate_s3_errors(uri: str) -> Iterator[None]:
    """Turn botocore's exceptions into stillhouse errors that name the URI."""
    from botocore.exceptions import BotoCoreError, ClientError  # only reached with the S3 backend

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "NoSuchBucket", "404", "NotFound"):
            raise NotFoundError(f"no such object: {uri}", field="uri") from exc
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise AccessDeniedError(f"access denied to {uri}: {code}", field="uri") from exc
        raise ServiceUnavailableError(f"S3 request for {uri} failed: {code or exc}", field="uri") from exc
    except BotoCoreError as exc:  # connection refused, timeouts, missing credentials
        raise ServiceUnavailableError(f"S3 request for {uri} failed: {exc}", field="uri") from exc


def open_store(backend: str | None = None) -> ObjectStore:
    """The configured store: ``local`` (default) or ``s3`` (``STILLHOUSE_S3_BACKEND``)."""
    backend = (backend or os.environ.get("STILLHOUSE_S3_BACKEND") or "local").lower()
    if backend == "local":
        return LocalObjectStore()
    if backend == "s3":
        try:
            import boto3
        except ImportError as exc:  # pragma: no cover - boto3 is in the aws extra
            raise MissingDependencyError("the S3 backend needs boto3: pip install 'stillhouse[aws]'") from exc
        endpoint = os.environ.get("STILLHOUSE_S3_ENDPOINT") or None
        return S3ObjectStore(boto3.client("s3", endpoint_url=endpoint))
    raise InvalidInputError(
        f"unknown object store backend {backend!r}; use 'local' or 's3'", field="STILLHOUSE_S3_BACKEND"
    )


def image_loader(store: ObjectStore) -> ImageLoader:
    """An image loader for :func:`stillhouse.records.schema.to_messages` that reads ``s3://`` images."""

    def load(block: ImageBlock) -> bytes:
        if block.source.bytes is not None:
            return base64.b64decode(block.source.bytes)
        if block.source.s3Location is None:
            raise InvalidInputError("image has neither bytes nor an s3Location", field="image.source")
        return store.get_bytes(block.source.s3Location.uri)

    return load
