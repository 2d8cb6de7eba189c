"""S3's object operations (put, get with Range, head, copy, delete) and multipart uploads, for
:mod:`stillhouse.serve.s3_api`'s routing: each takes the request's :class:`~stillhouse.serve.s3_api.Call`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote

from stillhouse.errors import S3Error
from stillhouse.serve import s3_protocol as wire
from stillhouse.serve import s3_upload
from stillhouse.serve.s3_api import Call, empty, object_headers, xml

if TYPE_CHECKING:
    from starlette.responses import Response

# ------------------------------------------------------------------------------------- objects


async def put_object(call: Call) -> Response:
    await asyncio.to_thread(call.store.bucket, call.bucket)
    await asyncio.to_thread(call.store.object_path, call.bucket, call.key)
    staged = call.store.staging_file()
    try:
        got = await s3_upload.receive(call.request.stream(), call.headers, staged)
        info = await asyncio.to_thread(
            call.store.put_object,
            call.bucket,
            call.key,
            staged,
            got.md5,
            call.object_meta(got.checksum),
        )
    finally:
        staged.unlink(missing_ok=True)
    return empty(headers={"ETag": info.etag, **dict([got.checksum] if got.checksum else [])})


async def copy_object(call: Call) -> Response:
    source = unquote(call.headers["x-amz-copy-source"].split("?versionId=")[0]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    replace = None
    if call.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        replace = call.object_meta()
    elif (src_bucket, src_key) == (call.bucket, call.key):
        raise S3Error(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object "
            "to itself without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes.",
            400,
        )
    info = await asyncio.to_thread(
        call.store.copy_object, (src_bucket, src_key), call.bucket, call.key, replace
    )
    result = [("LastModified", wire.iso(info.modified)), ("ETag", info.etag)]
    return xml(wire.document("CopyObjectResult", result))


# GetObject's and HeadObject's response-* query parameters and the headers they set in the answer.
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def _overridden(call: Call, headers: dict[str, str]) -> dict[str, str]:
    """The headers with the ones the request's response-* parameters override (S3 allows them on
    signed requests, and every request here is signed)."""
    return {**headers, **{h: call.query[q] for q, h in _OVERRIDES.items() if q in call.query}}


async def head_object(call: Call) -> Response:
    info = await asyncio.to_thread(call.store.head, call.bucket, call.key)
    headers = {**object_headers(info, call.wants_checksum()), "Content-Length": str(info.size)}
    return empty(headers=_overridden(call, headers))


async def get_object(call: Call) -> Response:
    from starlette.responses import StreamingResponse

    info = await asyncio.to_thread(call.store.head, call.bucket, call.key)
    path = call.store.object_path(call.bucket, call.key)
    span = wire.byte_range(call.headers.get("range"), info.size)
    first, last = span or (0, info.size - 1)
    headers = _overridden(
        call,
        {**object_headers(info, call.wants_checksum() and not span), "Content-Length": str(last - first + 1)},
    )
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
    handle = path.open("rb")  # opened now: a delete after this answer started cannot cut it short

    def read() -> Iterator[bytes]:
        with handle:
            handle.seek(first)
            left = last - first + 1
            while left > 0 and (block := handle.read(min(left, 1 << 20))):
                left -= len(block)
                yield block

    return StreamingResponse(read(), 206 if span else 200, headers=headers)


async def delete_object(call: Call) -> Response:
    await asyncio.to_thread(call.store.delete_object, call.bucket, call.key)
    return empty(204)


# ----------------------------------------------------------------------------------- multipart


async def create_upload(call: Call) -> Response:
    upload_id = await asyncio.to_thread(
        call.store.create_upload,
        call.bucket,
        call.key,
        call.object_meta(),
    )
    result = [("Bucket", call.bucket), ("Key", call.key), ("UploadId", upload_id)]
    return xml(wire.document("InitiateMultipartUploadResult", result))


async def upload_part(call: Call) -> Response:
    number = call.query.get("partNumber", "")
    if not number.isdigit():
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400)
    if "x-amz-copy-source" in call.headers:
        raise S3Error("NotImplemented", "UploadPartCopy is not implemented", 501)
    await asyncio.to_thread(call.store.list_parts, call.bucket, call.key, call.query["uploadId"])
    staged = call.store.staging_file()
    try:
        got = await s3_upload.receive(call.request.stream(), call.headers, staged)
        etag = await asyncio.to_thread(
            call.store.upload_part,
            call.bucket,
            call.key,
            call.query["uploadId"],
            int(number),
            staged,
            got.md5,
        )
    finally:
        staged.unlink(missing_ok=True)
    return empty(headers={"ETag": etag, **dict([got.checksum] if got.checksum else [])})


async def list_parts(call: Call) -> Response:
    upload_id = call.query["uploadId"]
    parts = await asyncio.to_thread(call.store.list_parts, call.bucket, call.key, upload_id)
    entries = [
        ("Part", [("PartNumber", n), ("LastModified", wire.iso(at)), ("ETag", etag), ("Size", size)])
        for n, etag, size, at in parts
    ]
    head = [
        ("Bucket", call.bucket),
        ("Key", call.key),
        ("UploadId", upload_id),
        ("IsTruncated", False),
        ("StorageClass", "STANDARD"),
    ]
    return xml(wire.document("ListPartsResult", head + entries))


async def complete_upload(call: Call) -> Response:
    parts = wire.completed_parts(await call.small_body())
    info = await asyncio.to_thread(
        call.store.complete_upload, call.bucket, call.key, call.query["uploadId"], parts
    )
    result = [
        ("Location", f"/{call.bucket}/{call.key}"),
        ("Bucket", call.bucket),
        ("Key", call.key),
        ("ETag", info.etag),
    ]
    return xml(wire.document("CompleteMultipartUploadResult", result))


async def abort_upload(call: Call) -> Response:
    await asyncio.to_thread(call.store.abort_upload, call.bucket, call.key, call.query["uploadId"])
    return empty(204)
