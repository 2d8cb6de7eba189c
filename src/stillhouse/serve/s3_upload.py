"""Receiving an S3 upload body: streamed to a staging file, checked, never stored half-checked.

The signature covers the declared ``x-amz-content-sha256``; this module checks the body against it
(or, for ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` / ``UNSIGNED-PAYLOAD``, against the checksum the
client sent in a header or an aws-chunked trailer) and against ``Content-MD5``. Any mismatch is
S3's refusal and the staging file is removed, so nothing stored changes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from stillhouse.errors import S3Error
from stillhouse.serve import s3_chunked
from stillhouse.serve.s3_protocol import content_md5

MAX_UPLOAD_BYTES = 5 * 1024**3  # S3's limit for one PUT or one part
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Received:
    md5: str  # hex
    size: int
    checksum: tuple[str, str] | None  # (header name, base64 value) the client sent and we verified


def declared_payload(headers: dict[str, str]) -> str:
    """The ``x-amz-content-sha256`` the signature covers: a hex SHA-256 or one of S3's constants
    this server can check (signed aws-chunked streams are refused as not implemented)."""
    value = headers.get("x-amz-content-sha256")
    if value is None:
        raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400)
    if value in (UNSIGNED, STREAMING_UNSIGNED_TRAILER) or _HEX_SHA256.fullmatch(value):
        return value
    if value.startswith("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
        raise S3Error(
            "NotImplemented",
            "Signed aws-chunked payloads are not implemented; sign the whole "
            "body or send STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            501,
        )
    raise S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER, or a valid sha256 value.",
        400,
    )


def _checksum_wanted(headers: dict[str, str]) -> tuple[str, str | None] | None:
    """``(algorithm, value in a header or None when it comes in the trailer)``."""
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer:
        if not trailer.startswith(s3_chunked.CHECKSUM_HEADER_PREFIX):
            raise S3Error("InvalidRequest", f"Unsupported trailer {trailer!r}", 400)
        return trailer.removeprefix(s3_chunked.CHECKSUM_HEADER_PREFIX), None
    for name, value in headers.items():
        if name.startswith(s3_chunked.CHECKSUM_HEADER_PREFIX) and name[15:] in s3_chunked.ALGORITHMS:
            return name.removeprefix(s3_chunked.CHECKSUM_HEADER_PREFIX), value.strip()
    return None


async def receive(stream: AsyncIterator[bytes], headers: dict[str, str], dest: Path) -> Received:
    """Write the (decoded) body to ``dest`` and check it; on any refusal ``dest`` is removed."""
    import asyncio

    declared = declared_payload(headers)
    raw = dest.with_name(dest.name + ".raw")
    try:
        sha = hashlib.sha256()
        size = 0
        with raw.open("wb") as out:
            async for chunk in stream:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES * 2:
                    raise S3Error(
                        "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400
                    )
                sha.update(chunk)
                out.write(chunk)
        if _HEX_SHA256.fullmatch(declared) and sha.hexdigest() != declared:
            raise S3Error(
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                400,
            )
        return await asyncio.to_thread(_decode_and_check, raw, dest, headers, declared)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)


def _decode_and_check(raw: Path, dest: Path, headers: dict[str, str], declared: str) -> Received:
    wanted = _checksum_wanted(headers)
    checksum = s3_chunked.checksummer(wanted[0]) if wanted else None
    md5 = hashlib.md5(usedforsecurity=False)

    def seen(data: bytes) -> None:
        md5.update(data)
        if checksum is not None:
            checksum.update(data)

    chunked = declared.startswith("STREAMING-") or "aws-chunked" in headers.get("content-encoding", "")
    trailers: dict[str, str] = {}
    with raw.open("rb") as src, dest.open("wb") as out:
        if chunked:
            trailers = s3_chunked.decode(src, out, seen)
        else:
            while block := src.read(1 << 20):
                out.write(block)
                seen(block)
    size = dest.stat().st_size
    decoded = headers.get("x-amz-decoded-content-length")
    if chunked and decoded is not None and decoded.strip() != str(size):
        raise S3Error(
            "IncompleteBody",
            "You did not provide the number of bytes specified by the x-amz-decoded-content-length header.",
            400,
        )
    if size > MAX_UPLOAD_BYTES:
        raise S3Error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400)
    if "content-md5" in headers and content_md5(headers["content-md5"]) != md5.hexdigest():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    verified = None
    if wanted and checksum is not None:
        name = s3_chunked.CHECKSUM_HEADER_PREFIX + wanted[0]
        sent = wanted[1] if wanted[1] is not None else trailers.get(name)
        if sent is None:
            raise S3Error("InvalidRequest", f"The trailer {name} named in x-amz-trailer was not sent.", 400)
        if sent != s3_chunked.b64(checksum.digest()):
            raise S3Error(
                "BadDigest",
                f"The {wanted[0].upper()} you specified did not match the calculated checksum.",
                400,
            )
        verified = (name, sent)
    return Received(md5.hexdigest(), size, verified)
