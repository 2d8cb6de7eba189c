"""S3 requests boto3 sends only over TLS or not at all by default, built with botocore's own encoder
and signer and sent on loopback: aws-chunked bodies with trailing checksums
(STREAMING-UNSIGNED-PAYLOAD-TRAILER), UNSIGNED-PAYLOAD, and the one-endpoint routing by service."""

from __future__ import annotations

import http.client
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha256Checksum
from tests.serve.helpers import KEY_ID, REGION, SECRET, boto_client

from stillhouse.sources.objectstore import LocalObjectStore

pytestmark = pytest.mark.integration
BUCKET = "chunked-bucket"
DATA = b"line of training data\n" * 5000


def send(server: str, req: AWSRequest) -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(server)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    path = urlsplit(req.url).path + (f"?{urlsplit(req.url).query}" if urlsplit(req.url).query else "")
    conn.request(req.method, path, body=req.body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}


def chunked_put(
    server: str,
    key: str,
    body: bytes,
    *,
    trailer: str = "x-amz-checksum-crc32",
    decoded_length: int | None = None,
    checksum: type = Crc32Checksum,
) -> AWSRequest:
    encoded = AwsChunkedWrapper(io.BytesIO(body), checksum, trailer, chunk_size=16 * 1024).read()
    headers = {
        "Content-Encoding": "aws-chunked",
        "X-Amz-Trailer": trailer,
        "X-Amz-Decoded-Content-Length": str(len(body) if decoded_length is None else decoded_length),
    }
    req = AWSRequest("PUT", f"{server}/{BUCKET}/{key}", data=encoded, headers=headers)
    algorithm = trailer.removeprefix("x-amz-checksum-")
    req.context["checksum"] = {
        "request_algorithm": {"in": "trailer", "algorithm": algorithm, "name": trailer}
    }
    S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
    assert req.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    return req


@pytest.fixture
def s3(server: str) -> Any:
    client = boto_client("s3", server)
    client.create_bucket(Bucket=BUCKET)
    return client


def objects(home: Path) -> dict[str, bytes]:
    store = LocalObjectStore(home / "s3")
    return {u: store.get_bytes(u) for u in store.list(f"s3://{BUCKET}/")}


@pytest.mark.parametrize("checksum", [Crc32Checksum, Sha256Checksum])
def test_aws_chunked_body_with_a_trailing_checksum_is_decoded_and_stored(
    server: str, s3: Any, home: Path, checksum: type
) -> None:
    name = "x-amz-checksum-" + ("crc32" if checksum is Crc32Checksum else "sha256")
    status, body, headers = send(
        server, chunked_put(server, "data/train.jsonl", DATA, trailer=name, checksum=checksum)
    )
    assert status == 200, body
    expected = checksum()
    expected.update(DATA)
    assert headers[name] == expected.b64digest()
    assert s3.get_object(Bucket=BUCKET, Key="data/train.jsonl")["Body"].read() == DATA


def test_a_wrong_trailing_checksum_is_bad_digest_and_nothing_is_stored(
    server: str, s3: Any, home: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="data/train.jsonl", Body=b"original")
    req = chunked_put(server, "data/train.jsonl", DATA)
    tampered = bytes(req.body).replace(b"line of", b"LINE of", 1)  # the trailer no longer matches
    req.data = tampered
    status, body, _ = send(server, req)
    assert (status, b"<Code>BadDigest</Code>" in body) == (400, True)
    assert objects(home) == {f"s3://{BUCKET}/data/train.jsonl": b"original"}
    assert not any((home / "s3" / ".stillhouse" / "tmp").iterdir())


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda b: b[:-40], b"<Code>IncompleteBody</Code>"),  # cut short inside the trailer
        (lambda b: b"zz" + b[b.index(b"\r\n") :], b"<Code>InvalidRequest</Code>"),  # a chunk size not hex
    ],
)
def test_broken_framing_is_refused(server: str, s3: Any, home: Path, mangle: Any, expected: bytes) -> None:
    req = chunked_put(server, "k", DATA)
    req.data = mangle(bytes(req.body))
    req.headers["Content-Length"] = str(len(req.data))
    status, body, _ = send(server, req)
    assert status == 400 and expected in body, body
    assert objects(home) == {}


def test_a_decoded_length_that_does_not_match_is_incomplete_body(server: str, s3: Any, home: Path) -> None:
    status, body, _ = send(server, chunked_put(server, "k", DATA, decoded_length=len(DATA) + 1))
    assert status == 400 and b"<Code>IncompleteBody</Code>" in body
    assert objects(home) == {}


def test_a_body_that_does_not_match_its_signed_hash_is_refused(server: str, s3: Any, home: Path) -> None:
    req = AWSRequest("PUT", f"{server}/{BUCKET}/k", data=b"signed body")
    S3SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
    req.data = b"swapped body"
    req.headers["Content-Length"] = str(len(req.data))
    status, body, _ = send(server, req)
    assert status == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in body
    assert objects(home) == {}


def test_s3_paths_that_are_bedrock_routes_reach_s3_when_signed_for_s3(server: str, s3: Any) -> None:
    """A bucket named like a Bedrock route is S3's: the credential scope routes, not the path."""
    s3.create_bucket(Bucket="custom-models")
    s3.put_object(Bucket="custom-models", Key="x", Body=b"s3 object")
    assert s3.get_object(Bucket="custom-models", Key="x")["Body"].read() == b"s3 object"
    assert boto_client("bedrock", server).list_custom_models()["modelSummaries"] == []


def test_a_request_signed_for_bedrock_on_an_s3_path_is_bedrocks(server: str) -> None:
    req = AWSRequest("GET", f"{server}/{BUCKET}")
    SigV4Auth(Credentials(KEY_ID, SECRET), "bedrock", REGION).add_auth(req)
    status, body, headers = send(server, req)
    assert status == 404 and headers["x-amzn-errortype"].startswith("ResourceNotFoundException")


def test_an_unsigned_s3_request_gets_nothing(server: str, s3: Any) -> None:
    """Unsigned, a request names no service: the Bedrock app answers it, and never with an object."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3.put_object(Bucket=BUCKET, Key="private", Body=b"secret data")
    client = boto3.client(
        "s3", endpoint_url=server, region_name=REGION, config=Config(signature_version=UNSIGNED)
    )
    for call in (
        lambda: client.get_object(Bucket=BUCKET, Key="private"),
        lambda: client.list_objects_v2(Bucket=BUCKET),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] in (403, 404)


def test_presigned_urls_get_and_put_until_they_expire(server: str, s3: Any, home: Path) -> None:
    import urllib.error
    import urllib.request

    from botocore.config import Config

    s3.put_object(Bucket=BUCKET, Key="shared.txt", Body=b"presigned content")
    s3 = boto_client("s3", server, config=Config(signature_version="s3v4"))  # boto3 presigns SigV2 otherwise
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "shared.txt"}, ExpiresIn=60
    )
    assert "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"presigned content"
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "up.txt"}, ExpiresIn=60
    )
    urllib.request.urlopen(
        urllib.request.Request(put_url, data=b"uploaded", method="PUT"), timeout=10
    ).close()
    assert objects(home)[f"s3://{BUCKET}/up.txt"] == b"uploaded"
    for bad_url, expected in (
        (url.replace("shared.txt", "other.txt"), b"<Code>SignatureDoesNotMatch</Code>"),
        (url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"), b"<Code>SignatureDoesNotMatch</Code>"),
        (url.split("&X-Amz-Signature=")[0], b"<Code>AuthorizationHeaderMalformed</Code>"),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad_url, timeout=10)
        assert (err.value.code, expected in err.value.read()) == (
            400 if b"Malformed" in expected else 403,
            True,
        )


def test_an_expired_presigned_url_is_access_denied() -> None:
    from datetime import UTC, datetime, timedelta

    from botocore.auth import S3SigV4QueryAuth

    from stillhouse.errors import AccessDeniedError
    from stillhouse.serve.auth import SigV4Verifier
    from stillhouse.serve.sigv4 import SignedRequest

    req = AWSRequest("GET", f"http://h/{BUCKET}/k")
    S3SigV4QueryAuth(Credentials(KEY_ID, SECRET), "s3", REGION, expires=600).add_auth(req)
    query = urlsplit(req.url).query
    signed = SignedRequest("GET", f"/{BUCKET}/k", query, [("host", "h")], b"")
    assert SigV4Verifier(KEY_ID, SECRET).verify(signed, service="s3") == KEY_ID
    later = SigV4Verifier(KEY_ID, SECRET, clock=lambda: datetime.now(UTC) + timedelta(seconds=700))
    with pytest.raises(AccessDeniedError, match="Request has expired"):
        later.verify(signed, service="s3")
    sooner = SigV4Verifier(KEY_ID, SECRET, clock=lambda: datetime.now(UTC) + timedelta(seconds=400))
    assert sooner.verify(signed, service="s3") == KEY_ID  # older than the skew window, yet not expired


def test_signed_chunked_payloads_are_not_implemented_and_nothing_is_stored(
    server: str, s3: Any, home: Path
) -> None:
    """SDKs that sign every chunk (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) are told so, never half-served."""
    req = AWSRequest(
        "PUT", f"{server}/{BUCKET}/k", data=b"5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n"
    )
    req.headers["X-Amz-Content-SHA256"] = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    SigV4Auth(Credentials(KEY_ID, SECRET), "s3", REGION).add_auth(req)
    status, body, _ = send(server, req)
    assert status == 501 and b"<Code>NotImplemented</Code>" in body
    assert objects(home) == {}
