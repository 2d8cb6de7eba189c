"""S3's SigV2 with the real client on loopback: the presigned URLs boto3 makes by default for a
custom endpoint (fetched and uploaded with plain HTTP clients), the ``AWS KEYID:SIG`` header that
``Config(signature_version="s3")`` sends, and S3's refusals of both."""

from __future__ import annotations

import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.serve.helpers import KEY_ID, SECRET, boto_client

from stillhouse.sources.objectstore import LocalObjectStore

pytestmark = pytest.mark.integration
BUCKET = "sigv2-bucket"
ODD_KEY = "notes/a b+c=d/é ü.txt"
UNICODE_KEY = "notes/é-ü_日本.txt"


@pytest.fixture
def s3(server: str) -> Any:
    """A default client (boto3 presigns SigV2 for a custom endpoint unless told s3v4)."""
    client = boto_client("s3", server)
    client.create_bucket(Bucket=BUCKET)
    return client


def fetch(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> tuple[int, bytes, Any]:
    """``url`` sent as given with only the headers named (http.client adds no Content-Type)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request(method, f"{parts.path}?{parts.query}", body=body, headers=headers)
    resp = conn.getresponse()
    return resp.status, resp.read(), resp


def error_code(body: bytes) -> str:
    return body.split(b"<Code>")[1].split(b"</Code>")[0].decode()


def stored(home: Path, key: str) -> bytes:
    return LocalObjectStore(home / "s3").get_bytes(f"s3://{BUCKET}/{key}")


def test_default_presigned_get_and_put_urls_are_sigv2_and_served(s3: Any, home: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="shared.txt", Body=b"presigned v2")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "shared.txt"})
    assert "AWSAccessKeyId=" in url and "X-Amz-" not in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"presigned v2"
    head_url = s3.generate_presigned_url("head_object", Params={"Bucket": BUCKET, "Key": "shared.txt"})
    assert fetch(head_url, "HEAD")[0] == 200
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "up.txt"})
    status, _, _ = fetch(put_url, "PUT", b"uploaded v2")
    assert status == 200 and stored(home, "up.txt") == b"uploaded v2"
    delete_url = s3.generate_presigned_url("delete_object", Params={"Bucket": BUCKET, "Key": "up.txt"})
    assert fetch(delete_url, "DELETE")[0] == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="up.txt")


def test_a_signed_content_type_must_be_the_one_sent(s3: Any, home: Path) -> None:
    params = {"Bucket": BUCKET, "Key": "typed.json", "ContentType": "application/json"}
    url = s3.generate_presigned_url("put_object", Params=params)
    status, body, _ = fetch(url, "PUT", b"{}", **{"Content-Type": "text/plain"})
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")
    # urllib sends a form Content-Type with any body: S3 refuses that URL the same way
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="PUT"), timeout=10)
    assert (err.value.code, error_code(err.value.read())) == (403, "SignatureDoesNotMatch")
    assert fetch(url, "PUT", b"{}", **{"Content-Type": "application/json"})[0] == 200
    assert s3.head_object(Bucket=BUCKET, Key="typed.json")["ContentType"] == "application/json"


def test_response_overrides_are_signed_and_answered(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="report.csv", Body=b"a,b\n")
    params = {
        "Bucket": BUCKET,
        "Key": "report.csv",
        "ResponseContentType": "text/csv; charset=utf-8",
        "ResponseContentDisposition": 'attachment; filename="r.csv"',
    }
    url = s3.generate_presigned_url("get_object", Params=params)
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert resp.headers["Content-Disposition"] == 'attachment; filename="r.csv"'
    status, body, _ = fetch(url.replace("text%2Fcsv", "text%2Fhtml"))
    assert (status, error_code(body)) == (403, "SignatureDoesNotMatch")


def test_keys_with_spaces_unicode_and_plus_are_signed_as_sent(s3: Any, home: Path) -> None:
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": UNICODE_KEY})
    assert fetch(put_url, "PUT", b"unicode")[:2] == (200, b"")
    assert stored(home, UNICODE_KEY) == b"unicode"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": UNICODE_KEY})
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.read() == b"unicode"
    # The object store keeps the SPEC's key characters (no ' ', '+', '='): the signature is
    # accepted and the store's own refusal answers.
    for method in ("PUT", "GET"):
        url = s3.generate_presigned_url(f"{method.lower()}_object", Params={"Bucket": BUCKET, "Key": ODD_KEY})
        got, body, _ = fetch(url, method, b"odd" if method == "PUT" else None)
        assert (got, error_code(body)) == (400, "InvalidArgument")


@pytest.mark.parametrize(
    ("client_args", "change", "status", "code", "words"),
    [
        ({}, (r"Expires=\d+", "Expires=1000000000"), 403, "AccessDenied", b"Request has expired"),
        ({}, ("Signature=", "Signature=A"), 403, "SignatureDoesNotMatch", b"does not match"),
        ({"secret": "another-secret"}, None, 403, "SignatureDoesNotMatch", b"does not match"),
        ({"key_id": "AKIDNOBODYKNOWS"}, None, 403, "InvalidAccessKeyId", b"does not exist"),
        ({}, (r"Expires=\d+", "Expires=soon"), 403, "AccessDenied", b"seconds since epoch"),
        ({}, ("AWSAccessKeyId=", "Other="), 403, "AccessDenied", b"requires the Signature"),
        ({}, ("shared.txt", "other.txt"), 403, "SignatureDoesNotMatch", b"does not match"),
    ],
)
def test_presigned_refusals_are_s3s(
    server: str, s3: Any, client_args: dict[str, str], change: Any, status: int, code: str, words: bytes
) -> None:
    s3.put_object(Bucket=BUCKET, Key="shared.txt", Body=b"x")
    client = boto_client("s3", server, **client_args)
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "shared.txt"})
    if change:
        url = re.sub(*change, url)
    got, body, _ = fetch(url)
    assert (got, error_code(body), words in body) == (status, code, True)


def test_the_sigv2_header_client_does_the_notebook_s3_calls(server: str, tmp_path: Path) -> None:
    s3 = boto_client("s3", server, config=Config(signature_version="s3"))
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key=UNICODE_KEY, Body=b"header v2", ContentType="text/plain")
    got = s3.get_object(Bucket=BUCKET, Key=UNICODE_KEY, ResponseContentType="text/x-note")
    assert (got["Body"].read(), got["ContentType"]) == (b"header v2", "text/x-note")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [UNICODE_KEY]
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789" * 900_000)  # above 8 MB: a multipart upload (?uploads, ?partNumber)
    s3.upload_file(str(big), BUCKET, "big.bin")
    assert s3.head_object(Bucket=BUCKET, Key="big.bin")["ContentLength"] == big.stat().st_size
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": UNICODE_KEY}, {"Key": "big.bin"}]})
    s3.delete_bucket(Bucket=BUCKET)


@pytest.mark.parametrize(
    ("client_args", "code"),
    [
        ({"secret": "another-secret"}, "SignatureDoesNotMatch"),
        ({"key_id": "AKIDNOBODY"}, "InvalidAccessKeyId"),
    ],
)
def test_the_sigv2_header_refusals_are_s3s(
    server: str, s3: Any, client_args: dict[str, str], code: str
) -> None:
    client = boto_client("s3", server, config=Config(signature_version="s3"), **client_args)
    with pytest.raises(ClientError) as err:
        client.list_objects_v2(Bucket=BUCKET)
    assert (
        err.value.response["Error"]["Code"],
        err.value.response["ResponseMetadata"]["HTTPStatusCode"],
    ) == (
        code,
        403,
    )


@pytest.mark.parametrize(
    ("authorization", "date", "status", "code"),
    [
        (f"AWS {KEY_ID}", "now", 400, "InvalidArgument"),
        (f"AWS {KEY_ID}:", "now", 400, "InvalidArgument"),
        (f"AWS {KEY_ID}:c2ln", None, 403, "AccessDenied"),
        (f"AWS {KEY_ID}:c2ln", "yesterday", 403, "AccessDenied"),
        (f"AWS {KEY_ID}:c2ln", "Tue, 01 Dec 2020 10:00:00 GMT", 403, "RequestTimeTooSkewed"),
        (f"AWS {KEY_ID}:c2ln", "now", 403, "SignatureDoesNotMatch"),
    ],
)
def test_a_garbled_sigv2_header_is_refused_as_s3_does(
    server: str, s3: Any, authorization: str, date: str | None, status: int, code: str
) -> None:
    from email.utils import formatdate

    headers = {"Authorization": authorization}
    if date is not None:
        headers["Date"] = formatdate(usegmt=True) if date == "now" else date
    got, body, _ = fetch(f"{server}/{BUCKET}", **headers)
    assert (got, error_code(body)) == (status, code)
    assert SECRET.encode() not in body
