"""The S3 API over the server's local object store, path-style or virtual-hosted (Host
``BUCKET.localhost:PORT``, or a subdomain of the host the server was started on); boto3's ``s3``
client works given ``endpoint_url``, and :mod:`stillhouse.serve.dispatch` sends it requests signed
for service ``s3`` (SigV4) or with S3's SigV2 (:mod:`stillhouse.serve.sigv2`).

Operations, status codes and headers are S3's (botocore's ``s3`` model): buckets (create, head,
list, delete, location, policy), objects (put, get with Range, head, delete, batch delete, copy),
ListObjects and ListObjectsV2 here; objects and multipart uploads in :mod:`stillhouse.serve.s3_objects`.
The signature is checked before the body is read;
bodies are checked by :mod:`stillhouse.serve.s3_upload`; errors are S3's XML
(:func:`stillhouse.serve.errors.s3_error`). The state is :class:`~stillhouse.sources.s3_buckets.BucketStore`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from stillhouse.errors import S3Error
from stillhouse.serve import s3_protocol as wire
from stillhouse.serve import s3_upload, sigv2
from stillhouse.serve.context import ServeContext, signed_request
from stillhouse.serve.sigv4_parse import credential_scope, is_presigned
from stillhouse.sources.s3_buckets import BucketStore, ObjectInfo, ObjectMeta

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

_XML = "application/xml"
# Sub-resources S3 has and this server does not: refused rather than mistaken for a plain GET/PUT.
_UNSUPPORTED = frozenset(
    [
        "acl",
        "tagging",
        "versioning",
        "cors",
        "lifecycle",
        "website",
        "encryption",
        "replication",
        "logging",
        "notification",
        "accelerate",
        "object-lock",
        "retention",
        "legal-hold",
        "torrent",
        "restore",
        "select",
        "analytics",
        "metrics",
        "inventory",
        "intelligent-tiering",
        "ownershipControls",
        "publicAccessBlock",
        "requestPayment",
        "versions",
        "attributes",
    ]
)
Handler = Callable[["Call"], Awaitable["Response"]]


class Call:
    """One S3 request: its bucket, key, query, headers and the store."""

    def __init__(self, request: Request, store: BucketStore, domains: Iterable[str] = ()) -> None:
        path = request.scope["path"]
        self.request = request
        self.store = store
        self.headers = {k.lower(): v for k, v in request.headers.items()}
        # Virtual-hosted (Host BUCKET.DOMAIN): the whole path is the key; else /BUCKET/KEY.
        self.virtual_bucket = wire.host_bucket(self.headers.get("host", ""), domains)
        if self.virtual_bucket is not None:
            self.bucket, self.key = self.virtual_bucket, path[1:]
        else:
            self.bucket, _, self.key = path.lstrip("/").partition("/")
        self.query = dict(request.query_params)
        query_string = request.scope.get("query_string", b"").decode("latin-1")
        self.sigv2 = sigv2.is_sigv2(self.headers.get("authorization"), query_string)
        if self.sigv2 or ("authorization" not in self.headers and is_presigned(query_string)):
            # What a presigned URL signs, and SigV2 never signs a body: the upload checks
            # Content-MD5 or the checksum the client sent instead.
            self.headers.setdefault("x-amz-content-sha256", s3_upload.UNSIGNED)
        # The region the client signed for: the one its bucket is created in (any is served).
        scope = credential_scope(self.headers.get("authorization"), self.query)
        self.region = scope[1] if scope else store.region

    async def small_body(self, limit: int = 1024 * 1024) -> bytes:
        """An XML or JSON request document, checked against the signed payload hash."""
        import hashlib

        declared = s3_upload.declared_payload(self.headers)
        body = b""
        async for chunk in self.request.stream():
            body += chunk
            if len(body) > limit:
                raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
        if declared not in (s3_upload.UNSIGNED,) and hashlib.sha256(body).hexdigest() != declared:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        return body

    def wants_checksum(self) -> bool:
        return self.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"

    def object_meta(self, checksum: tuple[str, str] | None = None) -> ObjectMeta:
        """Content-Type, x-amz-meta-* and the checksum the upload was verified against."""
        metadata = {k[11:]: v for k, v in self.headers.items() if k.startswith("x-amz-meta-")}
        return ObjectMeta(self.headers.get("content-type"), metadata, checksum)


def xml(body: bytes, status: int = 200) -> Response:
    from starlette.responses import Response

    return Response(body, status, media_type=_XML)


def empty(status: int = 200, headers: dict[str, str] | None = None) -> Response:
    from starlette.responses import Response

    return Response(b"", status, headers=headers)


def object_headers(info: ObjectInfo, checksum: bool = False) -> dict[str, str]:
    """An object's response headers; with ``checksum``, the one its upload was verified against
    (botocore checks the body it downloads against it)."""
    headers = {
        "ETag": info.etag,
        "Last-Modified": wire.http_date(info.modified),
        "Accept-Ranges": "bytes",
        "Content-Type": info.content_type,
    }
    headers.update({f"x-amz-meta-{k}": v for k, v in info.metadata.items()})
    if checksum and info.checksum:
        headers[info.checksum[0]] = info.checksum[1]
    return headers


# ------------------------------------------------------------------------------------- buckets


async def list_buckets(call: Call) -> Response:
    buckets = await asyncio.to_thread(call.store.buckets)
    entries = [
        ("Bucket", [("Name", b.name), ("CreationDate", wire.iso(b.created)), ("BucketRegion", b.region)])
        for b in buckets
    ]
    owner = [("ID", wire.OWNER_ID), ("DisplayName", "stillhouse")]
    return xml(wire.document("ListAllMyBucketsResult", [("Owner", owner), ("Buckets", entries)]))


async def create_bucket(call: Call) -> Response:
    call.store.check_bucket_name(call.bucket)
    constraint = wire.location_constraint(await call.small_body())
    if constraint == "us-east-1":
        raise S3Error("InvalidLocationConstraint", "The specified location-constraint is not valid", 400)
    if (constraint or "us-east-1") != call.region:
        raise S3Error(
            "IllegalLocationConstraintException",
            f"The {constraint or 'unspecified'} location "
            f"constraint is incompatible for the region specific endpoint this request was sent to.",
            400,
        )
    await asyncio.to_thread(call.store.create_bucket, call.bucket, constraint or "us-east-1")
    return empty(headers={"Location": f"/{call.bucket}"})


async def head_bucket(call: Call) -> Response:
    info = await asyncio.to_thread(call.store.bucket, call.bucket)
    return empty(headers={"x-amz-bucket-region": info.region})


async def delete_bucket(call: Call) -> Response:
    await asyncio.to_thread(call.store.delete_bucket, call.bucket)
    return empty(204)


async def bucket_location(call: Call) -> Response:
    info = await asyncio.to_thread(call.store.bucket, call.bucket)
    region = None if info.region == "us-east-1" else info.region  # S3 names us-east-1 by no constraint
    return xml(wire.document("LocationConstraint", [], text=region))


async def put_policy(call: Call) -> Response:
    body = await call.small_body(20 * 1024)
    await asyncio.to_thread(call.store.put_policy, call.bucket, body.decode("utf-8", "replace"))
    return empty(204)


async def get_policy(call: Call) -> Response:
    from starlette.responses import Response

    policy = await asyncio.to_thread(call.store.get_policy, call.bucket)
    return Response(policy, 200, media_type="application/json")


async def delete_policy(call: Call) -> Response:
    await asyncio.to_thread(call.store.delete_policy, call.bucket)
    return empty(204)


async def list_objects(call: Call) -> Response:
    """ListObjectsV2 (``list-type=2``) and the original ListObjects (``marker``)."""
    v2 = call.query.get("list-type") == "2"
    prefix, delimiter = call.query.get("prefix", ""), call.query.get("delimiter", "")
    max_keys = _max_keys(call.query.get("max-keys"))
    token = call.query.get("continuation-token")
    after = (
        wire.decode_token(token) if v2 and token else call.query.get("start-after" if v2 else "marker", "")
    )
    keys = await asyncio.to_thread(call.store.list_keys, call.bucket, prefix)
    page = wire.list_page(keys, prefix, delimiter, max_keys, after)
    infos = await asyncio.to_thread(lambda: [call.store.head(call.bucket, k) for k in page.keys])
    enc = call.query.get("encoding-type") == "url"
    contents = [
        (
            "Contents",
            [
                ("Key", wire.url_encoded(i.key, enc)),
                ("LastModified", wire.iso(i.modified)),
                ("ETag", i.etag),
                ("Size", i.size),
                ("StorageClass", "STANDARD"),
            ],
        )
        for i in infos
    ]
    common = [("CommonPrefixes", [("Prefix", wire.url_encoded(p, enc))]) for p in page.prefixes]
    head: list[tuple[str, object]] = [("Name", call.bucket), ("Prefix", wire.url_encoded(prefix, enc))]
    if v2:
        head += [
            ("KeyCount", len(infos) + len(common)),
            ("ContinuationToken", token),
            ("NextContinuationToken", page.next_token),
            ("StartAfter", wire.url_encoded(call.query.get("start-after"), enc)),
        ]
    else:
        last = page.prefixes[-1:] + page.keys[-1:]
        head += [
            ("Marker", wire.url_encoded(after, enc)),
            ("NextMarker", wire.url_encoded(max(last), enc) if page.truncated and delimiter else None),
        ]
    head += [
        ("MaxKeys", max_keys),
        ("Delimiter", wire.url_encoded(delimiter or None, enc)),
        ("EncodingType", "url" if enc else None),
        ("IsTruncated", page.truncated),
    ]
    return xml(wire.document("ListBucketResult", head + contents + common))


def _max_keys(value: str | None) -> int:
    if value is None:
        return wire.MAX_KEYS
    if not value.isdigit():
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer range", 400)
    return min(int(value), wire.MAX_KEYS)


async def delete_objects(call: Call) -> Response:
    body = await call.small_body()
    if "content-md5" not in call.headers and not any(h.startswith("x-amz-checksum-") for h in call.headers):
        raise S3Error("InvalidRequest", "Missing required header for this request: Content-MD5", 400)
    if "content-md5" in call.headers and wire.content_md5(call.headers["content-md5"]) != _md5(body):
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    keys, quiet = wire.delete_request(body)
    results: list[tuple[str, object]] = []
    for key in keys:
        try:
            await asyncio.to_thread(call.store.delete_object, call.bucket, key)
            if not quiet:
                results.append(("Deleted", [("Key", key)]))
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                raise
            results.append(("Error", [("Key", key), ("Code", exc.code), ("Message", exc.message)]))
    return xml(wire.document("DeleteResult", results))


def _md5(body: bytes) -> str:
    import hashlib

    return hashlib.md5(body, usedforsecurity=False).hexdigest()


# ------------------------------------------------------------------------------------ dispatch


def route(call: Call) -> Handler:
    """The operation a request names (method, bucket/key, sub-resource), or NotImplemented."""
    from stillhouse.serve.s3_objects import (
        abort_upload,
        complete_upload,
        copy_object,
        create_upload,
        delete_object,
        get_object,
        head_object,
        list_parts,
        put_object,
        upload_part,
    )

    method, q, h = call.request.method, call.query, call.headers
    if _UNSUPPORTED & q.keys() or (not call.key and "uploads" in q and method == "GET"):
        raise S3Error(
            "NotImplemented", "A header you provided implies functionality that is not implemented", 501
        )
    if not call.bucket:
        table: dict[str, Handler] = {"GET": list_buckets}
    elif not call.key:
        if "policy" in q:
            table = {"PUT": put_policy, "GET": get_policy, "DELETE": delete_policy}
        elif "location" in q:
            table = {"GET": bucket_location}
        elif "delete" in q:
            table = {"POST": delete_objects}
        else:
            table = {"PUT": create_bucket, "HEAD": head_bucket, "GET": list_objects, "DELETE": delete_bucket}
    elif "uploadId" in q:
        table = {"PUT": upload_part, "GET": list_parts, "POST": complete_upload, "DELETE": abort_upload}
    elif "uploads" in q:
        table = {"POST": create_upload}
    else:
        put = copy_object if "x-amz-copy-source" in h else put_object
        table = {"PUT": put, "GET": get_object, "HEAD": head_object, "DELETE": delete_object}
    handler = table.get(method)
    if handler is None:
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    return handler


def _verify(ctx: ServeContext, call: Call) -> None:
    """The signature, over the declared payload hash (the body is checked as it is read)."""
    if ctx.verifier is None:
        raise S3Error("AccessDenied", "the S3 API is disabled: the server has no access key configured", 403)
    declared = s3_upload.declared_payload(call.headers)
    signed = dataclasses.replace(signed_request(call.request, b""), payload_hash=declared)
    if call.sigv2:
        ctx.verifier.verify_v2(signed, bucket=call.virtual_bucket)
    else:
        ctx.verifier.verify(signed, service="s3")  # SigV4 signs the path as sent, virtual or not


def asgi_app(ctx: ServeContext) -> Callable[..., Awaitable[None]]:
    """The S3 API as an ASGI app over the server's object store (a local one)."""
    from starlette.requests import Request

    from stillhouse.serve.errors import s3_error
    from stillhouse.sources.objectstore import LocalObjectStore

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        request_id = secrets.token_hex(8).upper()
        try:
            store = ctx.open_store() if ctx.open_store else None
            if not isinstance(store, LocalObjectStore):
                raise S3Error("NotImplemented", "the S3 API serves the local object store only", 501)
            store_api = BucketStore(store, region=ctx.settings.region)
            call = Call(request, store_api, wire.own_domains(ctx.settings.host))
            _verify(ctx, call)
            response = await route(call)(call)
        except Exception as exc:  # every refusal is S3's XML, never a Bedrock JSON body
            response = s3_error(exc, request_id=request_id, head=request.method == "HEAD")
            if request.method in ("PUT", "POST"):
                # The body may be unread (refused before it): a kept-alive connection would read
                # it as the next request, so this one ends here.
                response.headers["connection"] = "close"
        response.headers["x-amz-request-id"] = request_id
        await response(scope, receive, send)

    return app
