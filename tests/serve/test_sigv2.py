"""SigV2 verification against botocore's own signers (HmacV1QueryAuth, HmacV1Auth), no server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.serve.helpers import KEY_ID, SECRET

from stillhouse.errors import (
    AccessDeniedError,
    InvalidInputError,
    InvalidSignatureError,
    S3Error,
    UnrecognizedClientError,
)
from stillhouse.serve import sigv2
from stillhouse.serve.auth import SigV4Verifier
from stillhouse.serve.sigv4 import SignedRequest


def presigned(method: str, url: str, expires: int = 600, **headers: str) -> SignedRequest:
    req = AWSRequest(method, url, headers=headers)
    path = urlsplit(url).path
    if path.count("/") == 1 and path != "/":
        req.auth_path = path + "/"  # what botocore's client signs for a bucket (handlers.py)
    HmacV1QueryAuth(Credentials(KEY_ID, SECRET), expires=expires).add_auth(req)
    parts = urlsplit(req.url)
    return SignedRequest(method, parts.path, parts.query, [("host", "h"), *headers.items()], b"")


def header_signed(method: str, url: str, auth_path: str | None = None, **headers: str) -> SignedRequest:
    req = AWSRequest(method, url, headers=headers)
    req.auth_path = auth_path
    HmacV1Auth(Credentials(KEY_ID, SECRET)).add_auth(req)
    parts = urlsplit(req.url)
    return SignedRequest(method, parts.path, parts.query, list(req.headers.items()), b"")


def verifier(**changes: Any) -> SigV4Verifier:
    return SigV4Verifier(changes.pop("key_id", KEY_ID), changes.pop("secret", SECRET), **changes)


@pytest.mark.parametrize(
    "url",
    [
        "http://h/bucket/key.txt",
        "http://h/bucket/a%20b%2Bc/%C3%A9%20%C3%BC.txt",
        "http://h/bucket/k?uploadId=u%2F1&partNumber=3",
        "http://h/bucket/k?response-content-type=text%2Fcsv%3B%20charset%3Dutf-8&response-expires=0",
        "http://h/bucket/k?versionId=v1&list-type=2",
        "http://h/bucket?uploads",
        "http://h/bucket",
        "http://h/",
    ],
)
@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE"])
def test_botocores_presigned_urls_verify(method: str, url: str) -> None:
    assert verifier().verify_v2(presigned(method, url)) == KEY_ID


def test_signed_headers_moved_into_the_query_are_signed() -> None:
    request = presigned("PUT", "http://h/b/k", **{"Content-Type": "text/a;  b=c", "x-amz-meta-who": "m  e"})
    assert "x-amz-meta-who=m%20%20e" in request.raw_query
    kept = [h for h in request.headers if h[0] != "x-amz-meta-who"]  # the query alone carries it
    assert verifier().verify_v2(SignedRequest("PUT", "/b/k", request.raw_query, kept, b"")) == KEY_ID
    wrong_type = [(k, "text/html" if k == "Content-Type" else v) for k, v in kept]
    with pytest.raises(InvalidSignatureError):
        verifier().verify_v2(SignedRequest("PUT", "/b/k", request.raw_query, wrong_type, b""))


def test_the_canonical_resource_is_botocores() -> None:
    signer = HmacV1Auth(Credentials(KEY_ID, SECRET))
    for url in (
        "http://h/b/k?uploadId=u%2F1&partNumber=3&list-type=2&acl",
        "http://h/b/k?response-content-type=a%2Fb&AWSAccessKeyId=x&Expires=1",
    ):
        parts = urlsplit(url)
        assert sigv2.canonical_resource(parts.path, parts.query) == signer.canonical_resource(parts)
    parts = urlsplit("http://b.localhost/k?partNumber=1")
    expected = signer.canonical_resource(parts, auth_path="/b/k")
    assert sigv2.canonical_resource(parts.path, parts.query, bucket="b") == expected


@pytest.mark.parametrize(
    ("url", "auth_path", "bucket"),
    [
        ("http://h/bucket/k%20x?uploads", None, None),
        ("http://bucket.localhost:9/k%20x", "/bucket/k%20x", "bucket"),
        ("http://bucket.localhost:9/?list-type=2", "/bucket/", "bucket"),
    ],
)
def test_botocores_header_signature_verifies(url: str, auth_path: str | None, bucket: str | None) -> None:
    request = header_signed(
        "POST", url, auth_path, **{"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg==", "x-amz-a": " 1 "}
    )
    assert verifier().verify_v2(request, bucket=bucket) == KEY_ID
    if bucket:  # the path alone, without the bucket the Host names, is another resource
        with pytest.raises(InvalidSignatureError):
            verifier().verify_v2(request)


def test_with_x_amz_date_the_date_line_is_empty() -> None:
    request = header_signed("GET", "http://h/b/k", **{"x-amz-date": "Tue, 01 Dec 2026 10:00:00 GMT"})
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    to_sign = sigv2.read(request, at, 300).string_to_sign
    assert to_sign.split("\n")[3] == "" and "x-amz-date:Tue, 01 Dec 2026 10:00:00 GMT" in to_sign


def test_an_expired_url_and_a_skewed_header_are_refused() -> None:
    now = datetime.now(UTC)  # botocore signs with the real clock, so the verifier's is set from it
    request = presigned("GET", "http://h/b/k", expires=60)
    assert verifier(clock=lambda: now + timedelta(seconds=30)).verify_v2(request) == KEY_ID
    with pytest.raises(AccessDeniedError, match="Request has expired"):
        verifier(clock=lambda: now + timedelta(seconds=120)).verify_v2(request)
    header = header_signed("GET", "http://h/b/k")
    with pytest.raises(S3Error, match="too large") as err:
        verifier(clock=lambda: now + timedelta(seconds=400)).verify_v2(header)
    assert (err.value.code, err.value.http_status) == ("RequestTimeTooSkewed", 403)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"secret": "other"}, InvalidSignatureError),
        ({"key_id": "AKIDOTHER"}, UnrecognizedClientError),
    ],
)
def test_wrong_credentials_are_refused(changes: dict[str, str], error: type[Exception]) -> None:
    for request in (presigned("GET", "http://h/b/k"), header_signed("GET", "http://h/b/k")):
        with pytest.raises(error):
            verifier(**changes).verify_v2(request)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("AWSAccessKeyId=A&Expires=9999999999", "requires the Signature"),
        ("AWSAccessKeyId=A&Signature=", "requires the Signature"),
        ("Signature=x&Expires=9999999999", "requires the Signature"),
        ("AWSAccessKeyId=A&Signature=x&Expires=-5", "seconds since epoch"),
        ("AWSAccessKeyId=A&Signature=x&Expires=1e9", "seconds since epoch"),
    ],
)
def test_missing_or_garbled_query_parameters_are_access_denied(query: str, words: str) -> None:
    with pytest.raises(AccessDeniedError, match=words):
        verifier().verify_v2(SignedRequest("GET", "/b/k", query, [], b""))


@pytest.mark.parametrize("value", ["AWS ", "AWS AKID", "AWS AKID:", "AWS :sig"])
def test_a_header_without_key_id_and_signature_is_invalid_argument(value: str) -> None:
    headers = [("authorization", value), ("date", "Tue, 01 Dec 2026 10:00:00 GMT")]
    with pytest.raises(InvalidInputError, match="Expected AwsAccessKeyId:signature"):
        verifier().verify_v2(SignedRequest("GET", "/b/k", "", headers, b""))


@pytest.mark.parametrize("date", [None, "", "yesterday", "2026-12-01T10:00:00Z"])
def test_a_header_without_a_readable_date_is_access_denied(date: str | None) -> None:
    headers = [("authorization", f"AWS {KEY_ID}:c2ln")] + ([("date", date)] if date is not None else [])
    with pytest.raises(AccessDeniedError, match="valid Date or x-amz-date"):
        verifier().verify_v2(SignedRequest("GET", "/b/k", "", headers, b""))


@pytest.mark.parametrize(
    ("authorization", "query", "expected"),
    [
        ("AWS K:s", "", True),
        ("AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/s3/aws4_request", "", False),
        (None, "AWSAccessKeyId=K&Signature=s&Expires=1", True),
        (None, "X-Amz-Signature=s", False),
        ("Bearer k", "AWSAccessKeyId=K", False),
        (None, "prefix=AWSAccessKeyId%3D", False),
    ],
)
def test_what_counts_as_sigv2(authorization: str | None, query: str, expected: bool) -> None:
    assert sigv2.is_sigv2(authorization, query) is expected
