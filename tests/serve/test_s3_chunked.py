"""aws-chunked decoding and S3's checksums, against botocore's own encoder and checksums."""

from __future__ import annotations

import base64
import io

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum

from stillhouse.errors import S3Error
from stillhouse.serve import s3_chunked

DATA = bytes(range(256)) * 300 + b"tail"


def encoded(data: bytes, checksum: type | None = Crc32Checksum, name: str = "x-amz-checksum-crc32") -> bytes:
    return AwsChunkedWrapper(io.BytesIO(data), checksum, name, chunk_size=7000).read()


def decode(body: bytes) -> tuple[bytes, dict[str, str]]:
    out = io.BytesIO()
    trailers = s3_chunked.decode(io.BytesIO(body), out)
    return out.getvalue(), trailers


def test_botocore_stream_decodes_to_its_payload_and_trailer() -> None:
    data, trailers = decode(encoded(DATA))
    assert data == DATA
    expected = Crc32Checksum()
    expected.update(DATA)
    assert trailers == {"x-amz-checksum-crc32": expected.b64digest()}


def test_stream_without_trailer_and_empty_payload() -> None:
    assert decode(encoded(DATA, None)) == (DATA, {})
    assert decode(encoded(b"", None)) == (b"", {})


def test_seen_gets_every_payload_byte() -> None:
    pieces: list[bytes] = []
    s3_chunked.decode(io.BytesIO(encoded(DATA)), io.BytesIO(), pieces.append)
    assert b"".join(pieces) == DATA


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"5\r\nhello\r\n", "IncompleteBody"),  # no final chunk
        (b"5\r\nhel", "IncompleteBody"),  # cut inside a chunk
        (b"zz\r\nhello\r\n0\r\n\r\n", "InvalidRequest"),  # size not hex
        (b"-5\r\nhello\r\n0\r\n\r\n", "InvalidRequest"),
        (b"5\r\nhelloXX0\r\n\r\n", "InvalidRequest"),  # data not followed by CRLF
        (b"3\r\nhello\r\n0\r\n\r\n", "InvalidRequest"),  # size shorter than the data
        (b"0\r\nx-amz-checksum-crc32\r\n\r\n", "InvalidRequest"),  # trailer without ':'
        (b"0\r\n\r\nextra", "InvalidRequest"),
        (b"0\r\n", "IncompleteBody"),  # no empty line after the trailers
        (b"f" * 5000 + b"\r\n", "IncompleteBody"),  # a header line far too long
    ],
)
def test_bad_framing_is_s3s_refusal(body: bytes, code: str) -> None:
    with pytest.raises(S3Error) as err:
        decode(body)
    assert (err.value.code, err.value.http_status) == (code, 400)


@pytest.mark.parametrize(
    ("name", "botocore_cls"), [("crc32", Crc32Checksum), ("sha1", Sha1Checksum), ("sha256", Sha256Checksum)]
)
def test_checksums_match_botocore(name: str, botocore_cls: type) -> None:
    ours, theirs = s3_chunked.checksummer(name), botocore_cls()
    for part in (DATA[:1000], DATA[1000:]):
        ours.update(part)
        theirs.update(part)
    assert s3_chunked.b64(ours.digest()) == theirs.b64digest()


@pytest.mark.parametrize(
    ("name", "check"),
    # The catalogued check values of CRC-32C and CRC-64/NVME over b"123456789".
    [("crc32c", 0xE3069283), ("crc64nvme", 0xAE8B14860A799888)],
)
def test_crt_only_checksums_have_their_check_values(name: str, check: int) -> None:
    crc = s3_chunked.checksummer(name)
    crc.update(b"1234")
    crc.update(b"56789")
    assert int.from_bytes(crc.digest(), "big") == check
    assert base64.b64decode(s3_chunked.b64(crc.digest())) == crc.digest()


def test_unknown_algorithm_is_invalid_request() -> None:
    with pytest.raises(S3Error) as err:
        s3_chunked.checksummer("md4")
    assert err.value.code == "InvalidRequest"
