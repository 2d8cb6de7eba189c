"""S3's ``aws-chunked`` body encoding and its flexible checksums (pure: streams in, streams out).

Current SDKs send uploads as ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n ... 0\\r\\n``
followed by trailer lines (``x-amz-checksum-crc32:<base64>``) and an empty line, with
``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`` and the trailer's name in
``x-amz-trailer``. :func:`decode` undoes the framing into another stream and returns the trailers;
:func:`checksummer` computes every checksum S3 accepts, so the server can compare a trailer or an
``x-amz-checksum-*`` header with the bytes it actually received before storing anything.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable
from typing import IO, Protocol

from stillhouse.errors import S3Error

_MAX_LINE = 4096  # a chunk header or trailer line; S3's are far shorter
_COPY = 1 << 16
CHECKSUM_HEADER_PREFIX = "x-amz-checksum-"


class Checksum(Protocol):
    def update(self, data: bytes) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    """A CRC as S3 sends it: the big-endian value, base64-encoded by the caller."""

    def __init__(self, width: int, step: Callable[[int, bytes], int], init: int = 0) -> None:
        self._width, self._step, self._value = width, step, init

    def update(self, data: bytes) -> None:
        self._value = self._step(self._value, data)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width // 8, "big")


def _reflected_table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _table_crc(poly: int, mask: int) -> Callable[[int, bytes], int]:
    """A reflected table-driven CRC (init and final xor all ones); pure Python, used only for the
    algorithms zlib lacks (CRC32C, CRC64NVME), which SDKs send only when asked to."""
    table = _reflected_table(poly)

    def step(value: int, data: bytes) -> int:
        crc = value ^ mask
        for byte in data:
            crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc ^ mask

    return step


_CRC32C = _table_crc(0x82F63B78, 0xFFFFFFFF)
_CRC64NVME = _table_crc(0x9A6C9329AC4BC9B5, 0xFFFFFFFFFFFFFFFF)


def _crt(name: str, width: int, fallback: Callable[[int, bytes], int]) -> Checksum:
    """awscrt's C implementation when installed (botocore[crt], the extra that lets a client send
    these algorithms at all), else the table-driven one."""
    try:
        from awscrt import checksums
    except ImportError:
        checksums = None
    fast = getattr(checksums, name, None)  # crc64nvme needs awscrt >= 0.23
    return _Crc(width, fallback if fast is None else lambda value, data: fast(data, value))


ALGORITHMS: dict[str, Callable[[], Checksum]] = {
    "crc32": lambda: _Crc(32, lambda v, d: zlib.crc32(d, v)),
    "crc32c": lambda: _crt("crc32c", 32, _CRC32C),
    "crc64nvme": lambda: _crt("crc64nvme", 64, _CRC64NVME),
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


def checksummer(algorithm: str) -> Checksum:
    """A fresh checksum by S3's lower-case name; an unknown one is S3's InvalidRequest."""
    factory = ALGORITHMS.get(algorithm.lower())
    if factory is None:
        raise S3Error("InvalidRequest", f"Checksum algorithm {algorithm!r} is not supported.", 400)
    return factory()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def _read_line(src: IO[bytes]) -> bytes:
    line = src.readline(_MAX_LINE + 2)
    if not line.endswith(b"\r\n"):
        raise S3Error("IncompleteBody", "The request body terminated unexpectedly.", 400)
    return line[:-2]


def _chunk_size(line: bytes) -> int:
    size, _, _ext = line.partition(b";")  # ';chunk-signature=...' is checked by whoever signs
    try:
        value = int(size, 16)
    except ValueError:
        value = -1
    if value < 0 or not size.strip() or size.strip() != size:
        raise S3Error("InvalidRequest", "Invalid chunk header in aws-chunked body.", 400)
    return value


def _copy_exact(src: IO[bytes], dst: IO[bytes], size: int, seen: Callable[[bytes], None]) -> None:
    while size:
        data = src.read(min(size, _COPY))
        if not data:
            raise S3Error("IncompleteBody", "The request body terminated unexpectedly.", 400)
        dst.write(data)
        seen(data)
        size -= len(data)


def decode(src: IO[bytes], dst: IO[bytes], seen: Callable[[bytes], None] = lambda _: None) -> dict[str, str]:
    """Copy the payload of an aws-chunked ``src`` into ``dst`` (``seen`` gets each piece, for
    checksums); return the trailers by lower-case name. Bad framing is S3's InvalidRequest or
    IncompleteBody; bytes after the final empty line are refused too."""
    while True:
        size = _chunk_size(_read_line(src))
        if size == 0:
            break
        _copy_exact(src, dst, size, seen)
        if src.read(2) != b"\r\n":
            raise S3Error("InvalidRequest", "Chunk data is not followed by CRLF in aws-chunked body.", 400)
    trailers: dict[str, str] = {}
    while line := _read_line(src):
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise S3Error("InvalidRequest", f"Malformed trailer {name!r} in aws-chunked body.", 400)
        trailers[name.strip().lower()] = value.strip()
    if src.read(1):
        raise S3Error("InvalidRequest", "Unexpected data after the aws-chunked trailer.", 400)
    return trailers
