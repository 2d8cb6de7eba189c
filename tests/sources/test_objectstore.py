"""The s3:// object store: local folder (default) and boto3 against moto's S3."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from stillhouse.chat import Image
from stillhouse.errors import ConflictError, InvalidInputError, NotFoundError
from stillhouse.records.schema import ConversationRecord, to_messages
from stillhouse.sources.objectstore import (
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    image_loader,
    open_store,
    parse_s3_prefix,
    parse_s3_uri,
)

ESCAPES = [
    "s3://bucket/../outside",
    "s3://bucket/a/../../outside",
    "s3://bucket//etc/passwd",
    "s3://bucket/a//b",
    "s3://bucket/./a",
    "s3://../x",
    "s3://bucket/a\\b",
    "s3://bucket/a b",
    "s3://bucket/~user/x;rm",
    "s3://bucket/",
    "/etc/passwd",
    "file:///etc/passwd",
]


def test_parse_s3_uri():
    assert parse_s3_uri("s3://my-bucket/data/train.jsonl") == ("my-bucket", "data/train.jsonl")


@pytest.mark.parametrize("uri", ESCAPES)
def test_escaping_keys_are_refused_naming_the_uri(uri, tmp_path):
    store = LocalObjectStore(tmp_path)
    with pytest.raises(InvalidInputError) as caught:
        store.put_bytes(uri, b"x")
    assert repr(uri) in str(caught.value)
    assert list(tmp_path.rglob("*")) == []


def test_symlink_out_of_the_store_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "bucket").mkdir(parents=True)
    (tmp_path / "root" / "bucket" / "link").symlink_to(outside)
    with pytest.raises(InvalidInputError, match="outside the object store"):
        LocalObjectStore(tmp_path / "root").put_bytes("s3://bucket/link/x", b"x")


def _exercise(store: ObjectStore) -> None:
    """The same behaviour contract for every backend."""
    assert isinstance(store, ObjectStore)
    store.put_bytes("s3://bucket/data/b.jsonl", b"two\n")
    store.put_bytes("s3://bucket/data/a.jsonl", b"one\n")
    store.put_bytes("s3://bucket/data/sub/c.jsonl", b"three\n")
    store.put_bytes("s3://bucket/other.txt", b"other")
    store.put_bytes("s3://bucket/data/a.jsonl", b"one again\n")  # overwrite
    assert store.get_bytes("s3://bucket/data/a.jsonl") == b"one again\n"
    assert store.exists("s3://bucket/data/a.jsonl") and not store.exists("s3://bucket/data/zzz")
    assert store.list("s3://bucket/data/") == [
        "s3://bucket/data/a.jsonl",
        "s3://bucket/data/b.jsonl",
        "s3://bucket/data/sub/c.jsonl",
    ]
    assert store.list("s3://bucket/oth") == ["s3://bucket/other.txt"]
    with store.open_read("s3://bucket/data/sub/c.jsonl") as stream:
        assert list(stream) == [b"three\n"]
    assert store.local_path("s3://bucket/other.txt").read_bytes() == b"other"
    store.delete("s3://bucket/other.txt")
    store.delete("s3://bucket/other.txt")  # deleting twice is fine, as in S3
    assert not store.exists("s3://bucket/other.txt")
    with pytest.raises(NotFoundError, match="s3://bucket/missing"):
        store.get_bytes("s3://bucket/missing")
    with pytest.raises(InvalidInputError, match="s3://bucket/../x"):
        store.get_bytes("s3://bucket/../x")


def test_local_store_contract(tmp_path):
    store = LocalObjectStore(tmp_path)
    _exercise(store)
    assert (tmp_path / "bucket" / "data" / "a.jsonl").read_bytes() == b"one again\n"
    assert not [p for p in tmp_path.rglob("*.tmp-put")]  # atomic writes leave no temporaries


def test_stored_objects_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        LocalObjectStore(tmp_path).put_bytes("s3://bucket/k.txt", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "bucket" / "k.txt").stat().st_mode) == 0o644


@pytest.mark.parametrize("prefix", ["s3://bucket//", "s3://bucket/a//", "s3://../", "s3://bucket/%2e%2e/"])
def test_bad_prefixes_are_refused(prefix):
    with pytest.raises(InvalidInputError, match="bad S3 URI prefix"):
        parse_s3_prefix(prefix)


def test_local_store_key_prefix_collision_is_a_conflict(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("s3://bucket/a", b"file")
    with pytest.raises(ConflictError, match="s3://bucket/a/b"):
        store.put_bytes("s3://bucket/a/b", b"x")


def test_open_store_defaults_to_local_under_stillhouse_home(stillhouse_home):
    store = open_store()
    assert isinstance(store, LocalObjectStore)
    store.put_bytes("s3://b/k.txt", b"hi")
    assert (stillhouse_home / "s3" / "b" / "k.txt").read_bytes() == b"hi"
    with pytest.raises(InvalidInputError, match="unknown object store backend"):
        open_store("gcs")


def test_image_loader_reads_s3_images_for_to_messages(tmp_path):
    store = LocalObjectStore(tmp_path)
    store.put_bytes("s3://imgs/cat.png", b"\x89PNG fake")
    record = ConversationRecord.model_validate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "keywords?"},
                        {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://imgs/cat.png"}}}},
                        {
                            "image": {
                                "format": "gif",
                                "source": {"bytes": base64.b64encode(b"GIF89a").decode()},
                            }
                        },
                    ],
                }
            ]
        }
    )
    messages = to_messages(record, load_image=image_loader(store))
    assert messages[0].images == (
        Image(format="png", data=b"\x89PNG fake"),
        Image(format="gif", data=b"GIF89a"),
    )


@pytest.fixture
def moto_s3(monkeypatch, stillhouse_home):
    moto = pytest.importorskip("moto")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket="bucket")
        yield


def test_s3_backend_contract_with_moto(moto_s3, monkeypatch):
    monkeypatch.setenv("STILLHOUSE_S3_BACKEND", "s3")
    store = open_store()
    assert isinstance(store, S3ObjectStore)
    _exercise(store)
    with pytest.raises(NotFoundError, match="s3://nobucket/x"):
        store.get_bytes("s3://nobucket/x")


def test_deleting_an_object_prunes_the_folders_it_leaves_empty(tmp_path):
    """So a key that was a prefix can become a key again, as in S3 (the bucket itself stays)."""
    store = LocalObjectStore(tmp_path)
    store.put_bytes("s3://b/a/deep/x", b"1")
    store.put_bytes("s3://b/a/y", b"2")
    store.delete("s3://b/a/deep/x")
    assert not (tmp_path / "b" / "a" / "deep").exists() and (tmp_path / "b" / "a" / "y").is_file()
    store.delete("s3://b/a/y")
    assert (tmp_path / "b").is_dir() and not (tmp_path / "b" / "a").exists()
    store.put_bytes("s3://b/a", b"now a key")
    assert store.list("s3://b/") == ["s3://b/a"]


def test_put_file_moves_a_finished_file_into_place(tmp_path):
    store = LocalObjectStore(tmp_path / "store")
    staged = tmp_path / "store" / "staged"
    staged.parent.mkdir()
    staged.write_bytes(b"upload")
    store.put_file("s3://b/k/obj", staged)
    assert store.get_bytes("s3://b/k/obj") == b"upload" and not staged.exists()
    other = tmp_path / "store" / "other"
    other.write_bytes(b"x")
    with pytest.raises(ConflictError):
        store.put_file("s3://b/k", other)  # 'k' is a key prefix
    with pytest.raises(InvalidInputError):
        store.put_file("s3://b/../escape", other)
    assert other.read_bytes() == b"x"
