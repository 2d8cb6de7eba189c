"""Virtual-hosted S3 (``addressing_style="virtual"``) with real boto3 on loopback.

``BUCKET.localhost`` does not resolve on every machine (glibc's resolver does not map ``*.localhost``
to loopback), so a ``before-send`` hook sends botocore's request, exactly as built and signed (Host
``BUCKET.localhost:PORT``), to 127.0.0.1 itself and hands the answer back for botocore to parse.
"""

from __future__ import annotations

import http.client
import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from tests.serve.helpers import boto_client

from stillhouse.serve.s3_protocol import host_bucket, own_domains
from stillhouse.sources.objectstore import LocalObjectStore

pytestmark = pytest.mark.integration
BUCKET = "virtual-bucket"


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.read()


def virtual_client(server: str, signature_version: str, sent: list[str]) -> Any:
    """A client with endpoint ``http://localhost:PORT`` whose requests reach the loopback server."""
    port = urlsplit(server).port
    client = boto_client(
        "s3",
        f"http://localhost:{port}",
        config=Config(signature_version=signature_version, s3={"addressing_style": "virtual"}),
    )

    def send(request: Any, **_: Any) -> AWSResponse:
        parts = urlsplit(request.url)
        sent.append(parts.netloc)
        headers = {**dict(request.headers.items()), "Host": parts.netloc}
        headers.pop("Expect", None)  # http.client sends the body at once
        body = request.body.read() if hasattr(request.body, "read") else request.body
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request(request.method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)
        resp = conn.getresponse()
        return AWSResponse(request.url, resp.status, dict(resp.getheaders()), _Raw(resp.read()))

    client.meta.events.register_first("before-send.s3", send)
    return client


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_virtual_hosted_requests_name_the_bucket_in_the_host(
    server: str, home: Path, signature_version: str, tmp_path: Path
) -> None:
    sent: list[str] = []
    s3 = virtual_client(server, signature_version, sent)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="dir/a.txt", Body=b"virtual")
    assert s3.get_object(Bucket=BUCKET, Key="dir/a.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["dir/a.txt"]
    s3.head_bucket(Bucket=BUCKET)
    store = LocalObjectStore(home / "s3")
    assert store.get_bytes(f"s3://{BUCKET}/dir/a.txt") == b"virtual"
    assert sent and all(netloc.startswith(f"{BUCKET}.localhost:") for netloc in sent)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key="missing")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    s3.delete_object(Bucket=BUCKET, Key="dir/a.txt")
    s3.delete_bucket(Bucket=BUCKET)


@pytest.mark.parametrize(
    ("host", "domains", "bucket"),
    [
        ("my-bucket.localhost:8080", ("localhost",), "my-bucket"),
        ("My.Dotted.Bucket.localhost", ("localhost",), "my.dotted.bucket"),
        ("my-bucket.s3.example.org:443", ("s3.example.org", "localhost"), "my-bucket"),
        ("localhost:8080", ("localhost",), None),
        ("127.0.0.1:8080", ("127.0.0.1", "localhost"), None),
        ("other.example.org", ("localhost",), None),
        ("evil-localhost:80", ("localhost",), None),
        ("[::1]:8080", ("localhost",), None),
        ("", ("localhost",), None),
    ],
)
def test_the_bucket_is_read_from_a_subdomain_of_the_servers_own(
    host: str, domains: tuple[str, ...], bucket: str | None
) -> None:
    assert host_bucket(host, domains) == bucket


@pytest.mark.parametrize(
    ("started_on", "domains"),
    [
        ("127.0.0.1", ("127.0.0.1", "localhost")),
        ("s3.example.org", ("s3.example.org", "localhost")),
        ("0.0.0.0", ("localhost",)),
        ("localhost", ("localhost",)),
    ],
)
def test_the_servers_own_domains(started_on: str, domains: tuple[str, ...]) -> None:
    assert own_domains(started_on) == domains


@pytest.mark.parametrize("signature_version", ["s3v4", None])
def test_virtual_hosted_presigned_urls_are_served(server: str, signature_version: str | None) -> None:
    """Default (SigV2) and SigV4 presigned URLs for ``BUCKET.localhost``, sent with their Host."""
    s3 = virtual_client(server, signature_version or "s3", [])
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="shared.txt", Body=b"via host")
    port = urlsplit(server).port
    config = Config(s3={"addressing_style": "virtual"})
    if signature_version:
        config = config.merge(Config(signature_version=signature_version))
    presigner = boto_client("s3", f"http://localhost:{port}", config=config)
    url = urlsplit(
        presigner.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "shared.txt"})
    )
    assert url.netloc == f"{BUCKET}.localhost:{port}"
    for host, status in ((url.netloc, 200), (f"localhost:{port}", 403)):  # the Host is signed too
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"{url.path}?{url.query}", headers={"Host": host})
        resp = conn.getresponse()
        assert (resp.status, resp.read() if status == 200 else b"via host") == (status, b"via host")
