"""AWS event-stream framing (``application/vnd.amazon.eventstream``), the encoder only. Pure.

A message is a prelude (total length, headers length, both big-endian uint32, and the CRC32 of
those 8 bytes), the headers (a 1-byte name length, the name, a type byte, then for strings a
2-byte length and the bytes), the payload and the CRC32 of everything before it. botocore reads
``:message-type`` (``event`` or ``exception``), ``:event-type`` / ``:exception-type`` (the member of
the stream's union) and ``:content-type``; a JSON payload is the member's shape.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7  # the header value type of a UTF-8 string
_PRELUDE = 12  # total length, headers length, prelude CRC
_MAX_HEADER_VALUE = 32767  # botocore's limit on a string header value


def _header(name: str, value: str) -> bytes:
    key, data = name.encode("utf-8"), value.encode("utf-8")
    if len(key) > 255 or len(data) > _MAX_HEADER_VALUE:
        raise ValueError(f"event-stream header {name!r} is too long")
    return struct.pack(">B", len(key)) + key + struct.pack(">BH", _STRING, len(data)) + data


def encode_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string ``headers`` (in order) around ``payload``."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    total = _PRELUDE + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event(event_type: str, payload: dict[str, Any]) -> bytes:
    """An ``event`` message: the union member ``event_type`` with a JSON ``payload``."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, _json(payload))


def exception(exception_type: str, message: str, **fields: Any) -> bytes:
    """An ``exception`` message: botocore raises it as the modelled error named ``exception_type``
    (a member of the stream's union, e.g. ``modelStreamErrorException``) with ``message``."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_message(headers, _json({"message": message, **fields}))


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
