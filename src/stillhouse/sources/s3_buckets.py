"""What the S3 API knows besides an object's bytes, kept beside the local object store.

Objects stay where :class:`~stillhouse.sources.objectstore.LocalObjectStore` keeps them
(``root/bucket/key``), so whatever stillhouse reads or writes under ``s3://`` is what the S3 API
lists and serves, and the other way round. The rest lives under ``root/.stillhouse/``, a name no
bucket can have: ``buckets/<bucket>.json`` (creation time, region, policy),
``meta/<bucket>/<hash of key>.json`` (ETag, content type, user metadata, with the size and mtime
they describe, so an object stillhouse rewrote itself gets its ETag recomputed), ``uploads/<id>/``
(multipart parts) and ``tmp/`` (uploads being received, on the same filesystem so storing one is a
rename). Refusals are S3's (:class:`~stillhouse.errors.S3Error`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from stillhouse.errors import ConflictError, InvalidInputError, S3Error
from stillhouse.outputs import atomic_file
from stillhouse.sources.objectstore import LocalObjectStore, is_temp_key

MIN_PART_BYTES = 5 * 1024 * 1024  # S3's minimum for every part but the last
MAX_PARTS = 10_000
_HOUSE = ".stillhouse"


@dataclass(frozen=True)
class ObjectMeta:
    """What a client says about an object besides its bytes."""

    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* without the prefix
    checksum: tuple[str, str] | None = None  # (x-amz-checksum-<alg>, base64) checked on upload


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    etag: str  # quoted, as S3 sends it
    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)
    checksum: tuple[str, str] | None = None


@dataclass(frozen=True)
class BucketInfo:
    name: str
    created: datetime
    region: str


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, resource=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, resource=key)


def _write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "w", encoding="utf-8") as out:
        json.dump(data, out)


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (FileNotFoundError, ValueError):
        return None


class BucketStore:
    """Buckets, object metadata, policies and multipart uploads over one local object store."""

    def __init__(self, store: LocalObjectStore, *, region: str = "us-east-1") -> None:
        self.store = store
        self.region = region
        self._house = store.root / _HOUSE

    # ---------------------------------------------------------------------------------- buckets

    def check_bucket_name(self, bucket: str) -> None:
        from stillhouse.records.rules import s3_uri_problem

        if not 3 <= len(bucket) <= 63 or s3_uri_problem(f"s3://{bucket}/k") or bucket != bucket.lower():
            raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, resource=bucket)

    def create_bucket(self, bucket: str, region: str) -> None:
        self.check_bucket_name(bucket)
        path = self.store.root / bucket
        if path.is_dir():
            raise S3Error(
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
                409,
                resource=bucket,
            )
        path.mkdir(parents=True)
        _write_json(self._bucket_file(bucket), {"created": datetime.now(UTC).isoformat(), "region": region})

    def bucket(self, bucket: str) -> BucketInfo:
        """The bucket, or NoSuchBucket; a folder stillhouse created by writing into it is one too."""
        path = self.store.root / bucket
        if bucket.startswith(".") or "/" in bucket or not path.is_dir():
            raise no_such_bucket(bucket)
        data = _read_json(self._bucket_file(bucket)) or {}
        created = datetime.fromisoformat(str(data["created"])) if "created" in data else _mtime(path)
        return BucketInfo(bucket, created, str(data.get("region") or self.region))

    def buckets(self) -> list[BucketInfo]:
        if not self.store.root.is_dir():
            return []
        names = sorted(p.name for p in self.store.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        return [self.bucket(name) for name in names]

    def delete_bucket(self, bucket: str) -> None:
        self.bucket(bucket)
        if self.list_keys(bucket, ""):
            raise S3Error(
                "BucketNotEmpty", "The bucket you tried to delete is not empty", 409, resource=bucket
            )
        shutil.rmtree(self.store.root / bucket)
        shutil.rmtree(self._house / "meta" / bucket, ignore_errors=True)
        self._bucket_file(bucket).unlink(missing_ok=True)

    def _bucket_file(self, bucket: str) -> Path:
        return self._house / "buckets" / f"{bucket}.json"

    def put_policy(self, bucket: str, policy: str) -> None:
        self.bucket(bucket)
        try:
            parsed = json.loads(policy)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or "Statement" not in parsed:
            raise S3Error(
                "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'", 400
            )
        data = _read_json(self._bucket_file(bucket)) or {"created": self.bucket(bucket).created.isoformat()}
        _write_json(self._bucket_file(bucket), {**data, "policy": policy})

    def get_policy(self, bucket: str) -> str:
        self.bucket(bucket)
        policy = (_read_json(self._bucket_file(bucket)) or {}).get("policy")
        if policy is None:
            raise S3Error("NoSuchBucketPolicy", "The bucket policy does not exist", 404, resource=bucket)
        return str(policy)

    def delete_policy(self, bucket: str) -> None:
        self.bucket(bucket)
        data = _read_json(self._bucket_file(bucket))
        if data and "policy" in data:
            del data["policy"]
            _write_json(self._bucket_file(bucket), data)

    # ---------------------------------------------------------------------------------- objects

    def object_path(self, bucket: str, key: str) -> Path:
        """Where the object lives; a key the store refuses (``..``, characters it cannot hold) is
        S3's InvalidArgument, one over 1024 bytes KeyTooLongError."""
        if len(key.encode("utf-8")) > 1024:
            raise S3Error("KeyTooLongError", "Your key is too long", 400, resource=key)
        try:
            return self.store.local_path(f"s3://{bucket}/{key}")
        except InvalidInputError as exc:
            raise S3Error("InvalidArgument", f"Invalid object key {key!r}: {exc.message}", 400) from exc

    def staging_file(self) -> Path:
        """A fresh file name for an upload being received (removed by the caller on failure)."""
        tmp = self._house / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / secrets.token_hex(12)

    def put_object(
        self,
        bucket: str,
        key: str,
        staged: Path,
        md5: str,
        meta: ObjectMeta,
    ) -> ObjectInfo:
        """Move a received (and checked) upload into place with its metadata."""
        self.bucket(bucket)
        path = self.object_path(bucket, key)
        try:
            self.store.put_file(f"s3://{bucket}/{key}", staged)
        except ConflictError as exc:
            raise S3Error("InvalidArgument", f"Key {key!r} collides with a key prefix", 400) from exc
        stat = path.stat()
        record = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "etag": f'"{md5}"'}
        record.update(content_type=meta.content_type, metadata=meta.metadata, checksum=meta.checksum)
        _write_json(self._meta_file(bucket, key), record)
        return self.head(bucket, key)

    def head(self, bucket: str, key: str) -> ObjectInfo:
        """The object's metadata, or NoSuchKey (NoSuchBucket first)."""
        self.bucket(bucket)
        path = self.object_path(bucket, key)
        if not path.is_file() or is_temp_key(key):
            raise no_such_key(key)
        stat = path.stat()
        meta = _read_json(self._meta_file(bucket, key)) or {}
        if meta.get("size") != stat.st_size or meta.get("mtime_ns") != stat.st_mtime_ns:
            # Written by stillhouse itself (or changed since): S3's ETag of a single PUT is its MD5.
            meta = {"etag": f'"{file_md5(path)}"', "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            _write_json(self._meta_file(bucket, key), meta)
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            etag=str(meta["etag"]),
            content_type=str(meta.get("content_type") or "binary/octet-stream"),
            metadata=dict(meta.get("metadata") or {}),  # type: ignore[call-overload]
            checksum=tuple(meta["checksum"]) if meta.get("checksum") else None,  # type: ignore[arg-type]
        )

    def delete_object(self, bucket: str, key: str) -> None:
        self.bucket(bucket)
        self.object_path(bucket, key)  # S3's refusal of a bad key, before the store's
        self.store.delete(f"s3://{bucket}/{key}")
        self._meta_file(bucket, key).unlink(missing_ok=True)

    def copy_object(
        self,
        source: tuple[str, str],
        bucket: str,
        key: str,
        replace: ObjectMeta | None,
    ) -> ObjectInfo:
        """Copy an object (its metadata too unless ``replace`` gives new ones)."""
        info = self.head(*source)
        self.bucket(bucket)
        self.object_path(bucket, key)
        staged = self.staging_file()
        try:
            shutil.copyfile(self.object_path(*source), staged)
            meta = replace or ObjectMeta(info.content_type, info.metadata, info.checksum)
            # A copy is one PUT: its ETag is the MD5, even of a multipart source ("...-N").
            return self.put_object(bucket, key, staged, file_md5(staged), meta)
        finally:
            staged.unlink(missing_ok=True)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        """Sorted keys under ``prefix`` (every one; the S3 API pages them)."""
        self.bucket(bucket)
        try:
            uris = self.store.list(f"s3://{bucket}/{prefix}")
        except InvalidInputError:  # a prefix no stored key can start with ('..', a space)
            return []
        return [uri[len(bucket) + 6 :] for uri in uris]

    def _meta_file(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self._house / "meta" / bucket / digest[:2] / f"{digest}.json"

    # -------------------------------------------------------------------------------- multipart

    def create_upload(self, bucket: str, key: str, meta: ObjectMeta) -> str:
        self.bucket(bucket)
        self.object_path(bucket, key)
        upload_id = secrets.token_urlsafe(24)
        data = {"bucket": bucket, "key": key, "content_type": meta.content_type, "metadata": meta.metadata}
        _write_json(self._house / "uploads" / upload_id / "upload.json", data)
        return upload_id

    def _upload_dir(self, bucket: str, key: str, upload_id: str) -> Path:
        folder = self._house / "uploads" / upload_id
        data = (
            _read_json(folder / "upload.json")
            if upload_id.replace("-", "").replace("_", "").isalnum()
            else None
        )
        if not data or data["bucket"] != bucket or data["key"] != key:
            raise S3Error(
                "NoSuchUpload",
                "The specified upload does not exist. The upload ID may be invalid, or the upload may "
                "have been aborted or completed.",
                404,
                resource=upload_id,
            )
        return folder

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int, staged: Path, md5: str) -> str:
        folder = self._upload_dir(bucket, key, upload_id)
        if not 1 <= number <= MAX_PARTS:
            raise S3Error(
                "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400
            )
        os.replace(staged, folder / f"part-{number:05d}")
        _write_json(folder / f"part-{number:05d}.json", {"etag": f'"{md5}"'})
        return f'"{md5}"'

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[tuple[int, str, int, datetime]]:
        """``(number, etag, size, last modified)`` of each part received, in order."""
        folder = self._upload_dir(bucket, key, upload_id)
        parts = []
        for path in sorted(folder.glob("part-?????")):
            meta = _read_json(path.with_name(path.name + ".json")) or {}
            parts.append((int(path.name[5:]), str(meta.get("etag")), path.stat().st_size, _mtime(path)))
        return parts

    def complete_upload(
        self, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> ObjectInfo:
        """Join the named parts into the object: S3's InvalidPartOrder, InvalidPart and
        EntityTooSmall are checked before anything is written; the ETag is MD5-of-MD5s-N."""
        folder = self._upload_dir(bucket, key, upload_id)
        if not parts:
            raise S3Error("MalformedXML", "You must specify at least one part", 400)
        numbers = [n for n, _ in parts]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise S3Error(
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts must be ordered by part number.",
                400,
            )
        received = {n: (etag, size) for n, etag, size, _ in self.list_parts(bucket, key, upload_id)}
        for number, etag in parts:
            if number not in received or received[number][0].strip('"') != etag.strip('"'):
                raise S3Error(
                    "InvalidPart",
                    "One or more of the specified parts could not be found. The part "
                    "may not have been uploaded, or the specified entity tag may not match the part's "
                    "entity tag.",
                    400,
                )
        if any(received[number][1] < MIN_PART_BYTES for number in numbers[:-1]):
            raise S3Error(
                "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", 400
            )
        staged = self.staging_file()
        try:
            with staged.open("wb") as out:
                for number in numbers:
                    with (folder / f"part-{number:05d}").open("rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
            md5s = b"".join(bytes.fromhex(received[n][0].strip('"')) for n in numbers)
            etag = f"{hashlib.md5(md5s, usedforsecurity=False).hexdigest()}-{len(numbers)}"
            data = _read_json(folder / "upload.json") or {}
            meta = ObjectMeta(data.get("content_type"), data.get("metadata") or {})  # type: ignore[arg-type]
            info = self.put_object(bucket, key, staged, etag, meta)
        finally:
            staged.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        return info

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(bucket, key, upload_id))
