"""S3's Signature Version 2 (HMAC-SHA1), pure: presigned URLs (``AWSAccessKeyId``, ``Signature``,
``Expires``: what boto3's ``generate_presigned_url`` makes by default for a custom endpoint) and
the ``Authorization: AWS KEYID:SIGNATURE`` header (``Config(signature_version="s3")``).

The string to sign is botocore's ``HmacV1Auth.canonical_string`` and AWS's RESTAuthentication
page: the method, Content-MD5, Content-Type, the date (a presigned URL's ``Expires``; empty when an
``x-amz-date`` header stands in for ``Date``), the ``x-amz-*`` headers lower-cased and sorted (a
presigned URL carries them as query parameters), then the resource: the path as sent, the bucket
put back in front for a virtual-hosted request, and the signed sub-resources. The secret and the
key id are :class:`stillhouse.serve.auth.SigV4Verifier`'s, which compares what :func:`read` finds.

Refusals are S3's codes (renamed once by ``serve/errors.py``): a wrong signature
``SignatureDoesNotMatch``, an unknown key id ``InvalidAccessKeyId``, an expired URL or missing
parameters ``AccessDenied``, a header without its colon ``InvalidArgument``, a date too far from
the clock ``RequestTimeTooSkewed``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from stillhouse.errors import AccessDeniedError, InvalidInputError, S3Error
from stillhouse.serve.sigv4 import SignedRequest

# The query parameters the signature covers: botocore's HmacV1Auth.QSAOfInterest, the list the
# client signs with (S3's sub-resources and the response-* overrides).
SUB_RESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    ]
)
_QUERY_AUTH = ("AWSAccessKeyId", "Signature", "Expires")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
UNKNOWN_KEY = "The AWS Access Key Id you provided does not exist in our records."


def is_sigv2(authorization: str | None, raw_query: str) -> bool:
    """Whether a request is signed with SigV2: its header (``AWS KEYID:SIG``), or, unsigned by a
    header, a presigned URL's ``AWSAccessKeyId`` or ``Signature``."""
    if authorization is not None:
        return authorization.strip().startswith("AWS ")
    return any(p.startswith(("AWSAccessKeyId=", "Signature=")) for p in raw_query.split("&"))


def canonical_resource(raw_path: str, raw_query: str, bucket: str | None = None) -> str:
    """The path as sent (``/BUCKET`` put in front of a virtual-hosted one, ``/BUCKET/`` for the
    bucket itself), then the signed
    sub-resources sorted by name, their values decoded (botocore's ``canonical_resource``)."""
    resource = f"/{bucket}{raw_path or '/'}" if bucket else raw_path or "/"
    if resource.count("/") == 1 and resource != "/":
        resource += "/"  # a bucket's own resource is /BUCKET/ (botocore's auth_path, S3's docs)
    kept = []
    for item in raw_query.split("&") if raw_query else []:
        name, eq, value = item.partition("=")
        if name in SUB_RESOURCES:
            kept.append((name, f"{name}={unquote(value)}" if eq else name))
    if kept:
        resource += "?" + "&".join(text for _, text in sorted(kept, key=lambda pair: pair[0]))
    return resource


def _header(request: SignedRequest, name: str) -> str | None:
    """A header's first value, stripped only: SigV2 signs inner blanks as sent (unlike SigV4)."""
    return next((v.strip() for k, v in request.headers if k.lower() == name), None)


def _query_params(raw_query: str) -> dict[str, str]:
    pairs = (p.partition("=") for p in raw_query.split("&") if p)
    return {unquote(k): unquote(v) for k, _, v in reversed(list(pairs))}  # the first one wins


def string_to_sign(request: SignedRequest, date: str, bucket: str | None = None) -> str:
    """SigV2's string to sign for ``request``, ``date`` being its Date line (or ``Expires``)."""
    amz: dict[str, list[str]] = {}
    for name, value in request.headers:
        if name.lower().startswith("x-amz-"):
            amz.setdefault(name.lower(), []).append(value.strip())
    for name, value in _query_params(request.raw_query).items():
        if name.lower().startswith("x-amz-"):
            amz.setdefault(name.lower(), []).append(value.strip())
    lines = [request.method.upper()]
    lines += [_header(request, name) or "" for name in ("content-md5", "content-type")]
    lines.append(date)
    lines += [f"{name}:{','.join(amz[name])}" for name in sorted(amz)]
    lines.append(canonical_resource(request.raw_path, request.raw_query, bucket))
    return "\n".join(lines)


def signature(secret: str, to_sign: str) -> str:
    """Base64 HMAC-SHA1 of the string to sign."""
    digest = hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class SignedV2:
    """What a SigV2 request says: its key id, its signature, and the string it should have signed."""

    access_key_id: str
    signature: str
    string_to_sign: str


def read(request: SignedRequest, now: datetime, max_skew_s: int, bucket: str | None = None) -> SignedV2:
    """A SigV2 request's key id, signature and string to sign (``bucket``: the one a virtual-hosted
    request names in its Host), or S3's refusal of its form, its expiry or its date (which S3
    reports before the key id and the signature)."""
    authorization = _header(request, "authorization")
    if authorization is not None:
        key_id, given, date = _from_header(request, authorization, now, max_skew_s)
    else:
        key_id, given, date = _from_query(request.raw_query, now)
        kept = [p for p in request.raw_query.split("&") if not p.startswith("Signature=")]
        request = SignedRequest(request.method, request.raw_path, "&".join(kept), request.headers, b"")
    return SignedV2(key_id, given, string_to_sign(request, date, bucket))


def _from_query(raw_query: str, now: datetime) -> tuple[str, str, str]:
    params = _query_params(raw_query)
    if any(not params.get(name) for name in _QUERY_AUTH):
        raise AccessDeniedError(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
        )
    expires = params["Expires"]
    if not expires.isdigit():
        raise AccessDeniedError(f"Invalid date (should be seconds since epoch): {expires}")
    if now.timestamp() > int(expires):
        raise AccessDeniedError("Request has expired")
    return params["AWSAccessKeyId"], params["Signature"], expires


def _from_header(
    request: SignedRequest, authorization: str, now: datetime, max_skew_s: int
) -> tuple[str, str, str]:
    key_id, colon, given = authorization.strip()[4:].strip().partition(":")
    if not colon or not key_id or not given:
        raise InvalidInputError("AWS authorization header is invalid.  Expected AwsAccessKeyId:signature")
    amz_date, date = _header(request, "x-amz-date"), _header(request, "date")
    signed_at = _http_date(amz_date if amz_date is not None else date)
    if signed_at is None:
        raise AccessDeniedError("AWS authentication requires a valid Date or x-amz-date header")
    if abs((now - signed_at).total_seconds()) > max_skew_s:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
        )
    # With x-amz-date the Date line is empty: x-amz-date is signed among the x-amz-* headers.
    return key_id, given, "" if amz_date is not None else (date or "")


def _http_date(value: str | None) -> datetime | None:
    """An RFC 1123 date (what botocore sends) as UTC, or None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
