"""S3's pure wire rules: ListObjectsV2 paging, Range headers, Content-MD5, request documents."""

from __future__ import annotations

import pytest

from stillhouse.errors import S3Error
from stillhouse.serve import s3_protocol as wire

KEYS = sorted(["a.txt", "dir/1", "dir/2", "dir/sub/3", "dir2/x", "z"])


def pages(prefix: str = "", delimiter: str = "", max_keys: int = 2) -> list[wire.ListPage]:
    out, after = [], ""
    while True:
        page = wire.list_page(KEYS, prefix, delimiter, max_keys, after)
        out.append(page)
        if not page.truncated:
            return out
        assert page.next_token
        after = wire.decode_token(page.next_token)


def test_pages_cover_every_key_once_in_order() -> None:
    got = [k for p in pages() for k in p.keys]
    assert got == KEYS
    assert [len(p.keys) for p in pages()] == [2, 2, 2]  # the last page full, yet not truncated
    assert not pages()[-1].truncated


def test_delimiter_folds_keys_into_common_prefixes_that_count_towards_max_keys() -> None:
    found = pages(delimiter="/", max_keys=1)
    assert [(p.keys, p.prefixes) for p in found] == [
        (["a.txt"], []),
        ([], ["dir/"]),
        ([], ["dir2/"]),
        (["z"], []),
    ]
    assert wire.list_page(KEYS, "dir/", "/", 1000, "") == wire.ListPage(
        ["dir/1", "dir/2"], ["dir/sub/"], False, None
    )


def test_start_after_and_prefix() -> None:
    page = wire.list_page(KEYS, "dir", "", 1000, "dir/2")
    assert page.keys == ["dir/sub/3", "dir2/x"]
    assert wire.list_page(KEYS, "", "", 0, "") == wire.ListPage([], [], False, None)


def test_a_bad_continuation_token_is_invalid_argument() -> None:
    with pytest.raises(S3Error) as err:
        wire.decode_token("%%%")
    assert err.value.code == "InvalidArgument"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-4", (0, 4)),
        ("bytes=5-", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=2-100", (2, 9)),
        (None, None),
        ("bytes=5-2", None),  # S3 answers the whole object
        ("bytes=0-1,3-4", None),
        ("items=0-1", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert wire.byte_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_unsatisfiable_range_is_416(header: str) -> None:
    with pytest.raises(S3Error) as err:
        wire.byte_range(header, 10)
    assert (err.value.code, err.value.http_status) == ("InvalidRange", 416)


@pytest.mark.parametrize("header", ["not base64!", "aGVsbG8=", ""])
def test_content_md5_must_be_a_base64_md5(header: str) -> None:
    with pytest.raises(S3Error) as err:
        wire.content_md5(header)
    assert err.value.code == "InvalidDigest"


def test_request_documents() -> None:
    ns = f'xmlns="{wire.NAMESPACE}"'
    assert (
        wire.location_constraint(
            f"<CreateBucketConfiguration {ns}><LocationConstraint>eu-west-1</LocationConstraint>"
            "</CreateBucketConfiguration>".encode()
        )
        == "eu-west-1"
    )
    assert wire.location_constraint(b"") is None
    parts = (
        f'<CompleteMultipartUpload {ns}><Part><ETag>"e2"</ETag><PartNumber>2</PartNumber></Part>'
        "<Part><ETag>e1</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"
    )
    assert wire.completed_parts(parts.encode()) == [(2, '"e2"'), (1, "e1")]
    assert wire.delete_request(b"<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>") == (
        ["a"],
        True,
    )
    for bad in (
        b"<Delete>",
        b"<Delete></Delete>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>",
    ):
        with pytest.raises(S3Error) as err:
            (wire.delete_request if bad.startswith(b"<Delete") else wire.completed_parts)(bad)
        assert err.value.code == "MalformedXML"
