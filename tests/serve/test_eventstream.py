"""The event-stream encoder, decoded by botocore's own parser (the one boto3's EventStream uses)."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from stillhouse.serve import eventstream as es


def _decode(data: bytes) -> list[object]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_an_event_round_trips_through_botocore() -> None:
    data = es.event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "héllo ✓"}})
    (message,) = _decode(data)
    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == {"contentBlockIndex": 0, "delta": {"text": "héllo ✓"}}
    assert message.prelude.total_length == len(data)


def test_messages_split_anywhere_decode_in_order() -> None:
    data = b"".join(es.event(name, {"i": i}) for i, name in enumerate(["messageStart", "messageStop"]))
    buffer = EventStreamBuffer()
    decoded = []
    for i in range(0, len(data), 7):  # a socket delivers any split
        buffer.add_data(data[i : i + 7])
        decoded += list(buffer)
    assert [m.headers[":event-type"] for m in decoded] == ["messageStart", "messageStop"]
    assert [json.loads(m.payload)["i"] for m in decoded] == [0, 1]


def test_an_exception_message_names_its_type() -> None:
    (message,) = _decode(es.exception("modelStreamErrorException", "boom", originalStatusCode=500))
    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "modelStreamErrorException"
    assert json.loads(message.payload) == {"message": "boom", "originalStatusCode": 500}


def test_a_corrupted_byte_fails_botocore_checksum() -> None:
    data = bytearray(es.event("messageStart", {"role": "assistant"}))
    data[-6] ^= 0xFF  # inside the payload: the message CRC no longer matches
    with pytest.raises(ChecksumMismatch):
        _decode(bytes(data))
    data = bytearray(es.event("messageStart", {"role": "assistant"}))
    data[5] ^= 0x01  # inside the prelude: its own CRC catches it
    with pytest.raises(ChecksumMismatch):
        _decode(bytes(data))


def test_an_empty_payload_and_an_overlong_header_value() -> None:
    (message,) = _decode(es.encode_message({":message-type": "event", ":event-type": "x"}, b""))
    assert message.payload == b""
    with pytest.raises(ValueError, match="too long"):
        es.encode_message({"k": "v" * 40000}, b"")
