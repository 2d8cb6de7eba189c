"""The S3 API through boto3's ``s3`` client on loopback: buckets, objects, listings, multipart
(``upload_file``), policies, and each bad input refused with S3's code while nothing stored changes."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.serve.helpers import boto_client

from stillhouse.sources.objectstore import LocalObjectStore

pytestmark = pytest.mark.integration
BUCKET = "notebook-bucket"


@pytest.fixture
def s3(server: str) -> Any:
    client = boto_client("s3", server)
    client.create_bucket(Bucket=BUCKET)
    return client


def code(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def stored(home: Path) -> dict[str, bytes]:
    """Every object in the store, as stillhouse itself sees it."""
    store = LocalObjectStore(home / "s3")
    uris = [
        u
        for b in sorted((home / "s3").iterdir())
        if not b.name.startswith(".")
        for u in store.list(f"s3://{b.name}/")
    ]
    return {u: store.get_bytes(u) for u in uris}


def test_buckets_create_head_list_delete(s3: Any) -> None:
    s3.head_bucket(Bucket=BUCKET)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket=BUCKET)
    assert code(err) == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    with pytest.raises(ClientError) as err:
        s3.delete_bucket(Bucket=BUCKET)
    assert code(err) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=BUCKET, Key="k")
    s3.delete_bucket(Bucket=BUCKET)
    with pytest.raises(ClientError) as err:
        s3.head_bucket(Bucket=BUCKET)
    assert code(err) == ("404", 404)  # HEAD has no body: botocore names the status
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=BUCKET)
    assert code(err) == ("NoSuchBucket", 404)
    assert err.value.response["Error"]["BucketName"] == BUCKET


def test_create_bucket_with_a_location_constraint_as_the_notebooks_do(server: str) -> None:
    s3 = boto_client("s3", server, region="us-west-2")
    s3.create_bucket(Bucket="west-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    assert s3.head_bucket(Bucket="west-bucket")["BucketRegion"] == "us-west-2"
    assert s3.get_bucket_location(Bucket="west-bucket")["LocationConstraint"] == "us-west-2"
    with pytest.raises(ClientError) as err:  # a constraint for another region than the endpoint's
        s3.create_bucket(Bucket="east-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert code(err) == ("IllegalLocationConstraintException", 400)
    with pytest.raises(ClientError) as err:
        s3.create_bucket(Bucket="Bad_Name")
    assert code(err) == ("InvalidBucketName", 400)


def test_objects_put_get_range_head_copy_delete(s3: Any, home: Path) -> None:
    body = b"0123456789" * 10
    put = s3.put_object(
        Bucket=BUCKET,
        Key="data/train.jsonl",
        Body=body,
        ContentType="application/x-ndjson",
        Metadata={"origin": "test"},
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=BUCKET, Key="data/train.jsonl")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (
        body,
        "application/x-ndjson",
        {"origin": "test"},
    )
    part = s3.get_object(Bucket=BUCKET, Key="data/train.jsonl", Range="bytes=10-19")
    assert (part["ResponseMetadata"]["HTTPStatusCode"], part["ContentRange"]) == (206, "bytes 10-19/100")
    assert part["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=BUCKET, Key="data/train.jsonl", Range="bytes=-5")["Body"].read() == body[-5:]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key="data/train.jsonl", Range="bytes=100-")
    assert code(err) == ("InvalidRange", 416) and err.value.response["Error"]["ActualObjectSize"] == "100"
    head = s3.head_object(Bucket=BUCKET, Key="data/train.jsonl")
    assert (head["ContentLength"], head["ETag"]) == (100, put["ETag"])
    copied = s3.copy_object(
        Bucket=BUCKET, Key="copy/train.jsonl", CopySource={"Bucket": BUCKET, "Key": "data/train.jsonl"}
    )
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    assert s3.head_object(Bucket=BUCKET, Key="copy/train.jsonl")["Metadata"] == {"origin": "test"}
    s3.delete_object(Bucket=BUCKET, Key="data/train.jsonl")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key="data/train.jsonl")
    assert code(err) == ("NoSuchKey", 404)
    with pytest.raises(ClientError) as err:
        s3.head_object(Bucket=BUCKET, Key="data/train.jsonl")
    assert code(err) == ("404", 404)
    assert stored(home) == {f"s3://{BUCKET}/copy/train.jsonl": body}


def test_delete_objects_reports_each_key(s3: Any) -> None:
    for key in ("a", "b"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    result = s3.delete_objects(
        Bucket=BUCKET, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "../c"}]}
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("../c", "InvalidArgument")]
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_list_objects_v2_prefix_delimiter_and_the_paginator(s3: Any) -> None:
    keys = [f"logs/2026/{i:03d}.json" for i in range(25)] + ["logs/readme", "other/x", "top"]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="logs/", PaginationConfig={"PageSize": 10}
        )
    )
    assert [len(p["Contents"]) for p in pages] == [10, 10, 6]
    assert [o["Key"] for p in pages for o in p["Contents"]] == sorted(
        k for k in keys if k.startswith("logs/")
    )
    folded = s3.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert [c["Prefix"] for c in folded["CommonPrefixes"]] == ["logs/", "other/"]
    assert [o["Key"] for o in folded["Contents"]] == ["top"]
    after = s3.list_objects_v2(Bucket=BUCKET, StartAfter="logs/2026/023.json", MaxKeys=2)
    assert [o["Key"] for o in after["Contents"]] == ["logs/2026/024.json", "logs/readme"]
    assert after["IsTruncated"]
    v1 = s3.list_objects(Bucket=BUCKET, Prefix="other/")
    assert [o["Key"] for o in v1["Contents"]] == ["other/x"]


def test_upload_file_multipart_and_download_file(s3: Any, tmp_path: Path, home: Path) -> None:
    data = hashlib.sha256(b"seed").digest() * (9 * 1024 * 1024 // 32 + 1)  # over boto3's 8 MB threshold
    source, target = tmp_path / "big.bin", tmp_path / "back.bin"
    source.write_bytes(data)
    s3.upload_file(str(source), BUCKET, "big/file.bin")
    etag = s3.head_object(Bucket=BUCKET, Key="big/file.bin")["ETag"]
    parts = [data[: 8 * 1024 * 1024], data[8 * 1024 * 1024 :]]
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert etag == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    s3.download_file(BUCKET, "big/file.bin", str(target))
    assert target.read_bytes() == data
    assert (home / "s3" / BUCKET / "big" / "file.bin").read_bytes() == data
    assert not list((home / "s3" / ".stillhouse" / "uploads").iterdir())  # nothing left staged


def test_multipart_refusals_change_nothing(s3: Any, home: Path) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    big = b"a" * (5 * 1024 * 1024)
    e1 = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=1, Body=big)["ETag"]
    e2 = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=2, Body=b"end")["ETag"]
    assert [p["PartNumber"] for p in s3.list_parts(Bucket=BUCKET, Key="mp", UploadId=upload)["Parts"]] == [
        1,
        2,
    ]
    cases = [
        ([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}], "InvalidPartOrder"),
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"' + "0" * 32 + '"'}], "InvalidPart"),
        ([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}], "InvalidPart"),
        ([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 3, "ETag": e2}], "InvalidPart"),
    ]
    for parts, expected in cases:
        with pytest.raises(ClientError) as err:
            s3.complete_multipart_upload(
                Bucket=BUCKET, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts}
            )
        assert code(err) == (expected, 400)
    assert stored(home) == {}
    done = s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key="mp",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]},
    )
    assert done["ETag"].endswith('-2"')
    assert stored(home) == {f"s3://{BUCKET}/mp": big + b"end"}
    with pytest.raises(ClientError) as err:  # completed: the upload is gone
        s3.abort_multipart_upload(Bucket=BUCKET, Key="mp", UploadId=upload)
    assert code(err) == ("NoSuchUpload", 404)


def test_small_parts_are_entity_too_small_and_abort_discards(s3: Any, home: Path) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="small")["UploadId"]
    etags = [
        s3.upload_part(Bucket=BUCKET, Key="small", UploadId=upload, PartNumber=n, Body=b"x")["ETag"]
        for n in (1, 2)
    ]
    with pytest.raises(ClientError) as err:
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key="small",
            UploadId=upload,
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), etags, strict=True)]
            },
        )
    assert code(err) == ("EntityTooSmall", 400)
    s3.abort_multipart_upload(Bucket=BUCKET, Key="small", UploadId=upload)
    with pytest.raises(ClientError) as err:
        s3.upload_part(Bucket=BUCKET, Key="small", UploadId=upload, PartNumber=3, Body=b"x")
    assert code(err) == ("NoSuchUpload", 404)
    assert stored(home) == {}


def test_bucket_policy_is_stored_and_returned(s3: Any) -> None:
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=BUCKET)
    assert code(err) == ("NoSuchBucketPolicy", 404)
    policy = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "bedrock.amazonaws.com"},
                    "Action": "s3:GetObject",
                    "Resource": f"arn:aws:s3:::{BUCKET}/*",
                }
            ],
        }
    )
    s3.put_bucket_policy(Bucket=BUCKET, Policy=policy)
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == policy
    with pytest.raises(ClientError) as err:
        s3.put_bucket_policy(Bucket=BUCKET, Policy="not json")
    assert code(err) == ("MalformedPolicy", 400)
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == policy
    s3.delete_bucket_policy(Bucket=BUCKET)
    with pytest.raises(ClientError) as err:
        s3.get_bucket_policy(Bucket=BUCKET)
    assert code(err) == ("NoSuchBucketPolicy", 404)


@pytest.mark.parametrize("key", ["../escape", "a/../../escape", "a//b", "./x"])
def test_keys_that_would_escape_the_store_are_refused(s3: Any, home: Path, key: str) -> None:
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert code(err) == ("InvalidArgument", 400)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key=key)
    assert code(err) == ("InvalidArgument", 400)
    assert stored(home) == {}
    assert not (home / "escape").exists() and not (home / "s3" / "escape").exists()


def test_bad_content_md5_and_checksum_are_refused_and_nothing_stored(s3: Any, home: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="keep", Body=b"original")
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="keep", Body=b"changed", ContentMD5=wrong_md5)
    assert code(err) == ("BadDigest", 400)
    with pytest.raises(ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="keep", Body=b"changed", ChecksumCRC32="AAAAAA==")
    assert code(err) == ("BadDigest", 400)
    assert stored(home) == {f"s3://{BUCKET}/keep": b"original"}
    ok = s3.put_object(Bucket=BUCKET, Key="keep", Body=b"changed", ChecksumAlgorithm="SHA256")
    assert ok["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"changed").digest()).decode()


def test_the_store_and_the_api_see_the_same_objects(s3: Any, home: Path) -> None:
    """What stillhouse writes under s3:// the API serves, and what the API stores stillhouse reads."""
    store = LocalObjectStore(home / "s3")
    csv = b"step,loss\n1,0.5\n"
    store.put_bytes("s3://pipeline-out/job/metrics.csv", csv)
    assert s3.get_object(Bucket="pipeline-out", Key="job/metrics.csv")["Body"].read() == csv
    listed = s3.list_objects_v2(Bucket="pipeline-out")["Contents"]
    assert [(o["Key"], o["ETag"]) for o in listed] == [
        ("job/metrics.csv", f'"{hashlib.md5(csv).hexdigest()}"')
    ]
    s3.put_object(Bucket=BUCKET, Key="train/data.jsonl", Body=b'{"x": 1}\n')
    assert store.get_bytes(f"s3://{BUCKET}/train/data.jsonl") == b'{"x": 1}\n'
    store.put_bytes(f"s3://{BUCKET}/train/data.jsonl", b"rewritten")  # a new ETag, not the cached one
    assert (
        s3.head_object(Bucket=BUCKET, Key="train/data.jsonl")["ETag"]
        == f'"{hashlib.md5(b"rewritten").hexdigest()}"'
    )


def test_wrong_secret_and_unknown_key_are_s3s_codes(server: str) -> None:
    for credentials, expected in (
        ({"secret": "wrong"}, "SignatureDoesNotMatch"),
        ({"key_id": "AKIDOTHER"}, "InvalidAccessKeyId"),
    ):
        with pytest.raises(ClientError) as err:
            boto_client("s3", server, **credentials).list_buckets()
        assert code(err) == (expected, 403)


def test_the_stores_own_bookkeeping_is_no_bucket(s3: Any, server: str) -> None:
    """``.stillhouse/`` (metadata, uploads) sits beside the buckets and is never served or listed."""
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"x")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=".stillhouse")
    assert code(err) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=".stillhouse", Key=f"buckets/{BUCKET}.json")
    assert code(err) == ("NoSuchBucket", 404)


def test_copy_of_a_multipart_object_has_the_md5_etag(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key="mp", UploadId=upload, PartNumber=1, Body=b"only part")["ETag"]
    s3.complete_multipart_upload(
        Bucket=BUCKET, Key="mp", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert s3.head_object(Bucket=BUCKET, Key="mp")["ETag"].endswith('-1"')
    copied = s3.copy_object(Bucket=BUCKET, Key="copy", CopySource=f"{BUCKET}/mp")
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"only part").hexdigest()}"'


def test_the_checksum_an_upload_was_verified_against_comes_back_for_botocore_to_check(
    s3: Any, home: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="k", Body=b"checked bytes", ChecksumAlgorithm="SHA256")
    expected = base64.b64encode(hashlib.sha256(b"checked bytes").digest()).decode()
    assert s3.head_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")["ChecksumSHA256"] == expected
    assert s3.get_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")["Body"].read() == b"checked bytes"
    (home / "s3" / BUCKET / "k").write_bytes(b"changed under the API")  # as stillhouse itself might
    got = s3.get_object(Bucket=BUCKET, Key="k", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in got and got["Body"].read() == b"changed under the API"
