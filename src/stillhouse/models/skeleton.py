"""Skeleton decoding: a flat JSON object schema read as fixed text with typed holes, byte by byte.

When every property of an object schema is required, in the schema's order, and no other is allowed,
a model under that schema chooses only the values: every brace, key, quote and separator is already
determined. :func:`compile_skeleton` turns such a schema into a :data:`Skeleton` (literal text
between value slots: an enum, a string, a bounded number); :func:`advance` checks a candidate token's
bytes against it, and :func:`forced` says which bytes come next whatever the model prefers. A decoder
(:mod:`stillhouse.models.llamacpp_skeleton`) feeds those forced bytes to the model in one batch
instead of one forward pass per token (SGLang's "jump-forward" decoding), and checks the model's
own tokens with :func:`advance` instead of a grammar over the whole vocabulary.

The text is JSON as ``json.dumps`` writes it by default (``", "`` between items, ``": "`` after a
key), which is how students' answers are rendered for training. Schemas with anything else (optional
or extra properties, nesting, arrays, booleans, numbers that may be negative) get ``None``: the caller
uses a general grammar instead. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from stillhouse.errors import InvalidInputError

MAX_FRACTION_DIGITS = 6  # a number slot cannot run on forever
_ESCAPES = frozenset(b'"\\/bfnrt')
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGITS = frozenset(b"0123456789")


@dataclass(frozen=True)
class Literal:
    """Text the model has no choice over."""

    text: bytes


@dataclass(frozen=True)
class EnumSlot:
    """One of a few strings, without their quotes (the quotes are literal)."""

    options: tuple[bytes, ...]


@dataclass(frozen=True)
class StringSlot:
    """A JSON string's content, without its quotes; lengths count characters, as JSON Schema does."""

    min_chars: int = 0
    max_chars: int | None = None


@dataclass(frozen=True)
class NumberSlot:
    """A non-negative JSON number (an integer when ``integer``) within ``[minimum, maximum]``, with
    at most ``fraction_digits`` decimals (a ``multipleOf`` of 0.1 allows one)."""

    minimum: float = 0.0
    maximum: float | None = None
    integer: bool = False
    fraction_digits: int = MAX_FRACTION_DIGITS


Slot = EnumSlot | StringSlot | NumberSlot
Piece = Literal | Slot
Skeleton = tuple[Piece, ...]


@dataclass(frozen=True)
class Cursor:
    """Where a decoder is in a skeleton: the piece, the bytes read of it, and a string slot's state."""

    index: int = 0
    text: bytes = b""
    chars: int = 0  # characters of a string slot so far
    escape: int = 0  # after a backslash: 1; inside \\uXXXX: hex digits still due
    utf8: int = 0  # continuation bytes still due in a multi-byte character


def compile_skeleton(schema: dict[str, Any] | None) -> Skeleton | None:
    """The skeleton of a flat, fully required, closed object schema, or ``None`` if it is not one."""
    if not schema or schema.get("type") != "object" or schema.get("additionalProperties", True) is not False:
        return None
    properties = schema.get("properties") or {}
    if not properties or set(schema.get("required") or ()) != set(properties):
        return None
    pieces: list[Piece] = []
    for i, (key, spec) in enumerate(properties.items()):
        slot = _slot(spec)
        if slot is None:
            return None
        key_text = ("{" if i == 0 else ", ") + json.dumps(key, ensure_ascii=False) + ": "
        quote = '"' if isinstance(slot, EnumSlot | StringSlot) else ""
        pieces += [Literal((key_text + quote).encode()), slot]
        if quote:
            pieces.append(Literal(quote.encode()))
    pieces.append(Literal(b"}"))
    return _merge_literals(pieces)


def _slot(spec: Any) -> Slot | None:
    """The slot for one property's schema, or ``None`` when it is not a supported one."""
    if not isinstance(spec, dict):
        return None
    kind, enum = spec.get("type"), spec.get("enum")
    if enum is not None:
        if kind not in (None, "string") or not enum or not all(isinstance(o, str) and o for o in enum):
            return None
        if any(json.dumps(o, ensure_ascii=False) != f'"{o}"' for o in enum):
            return None  # an option that needs escaping
        return EnumSlot(tuple(o.encode() for o in enum))
    if kind == "string" and not ({"pattern", "format"} & spec.keys()):
        return StringSlot(int(spec.get("minLength", 0)), spec.get("maxLength"))
    if kind in ("number", "integer") and not ({"exclusiveMinimum", "exclusiveMaximum"} & spec.keys()):
        minimum, digits = spec.get("minimum"), _fraction_digits(spec.get("multipleOf"))
        if minimum is None or minimum < 0 or digits is None:
            return None
        return NumberSlot(
            float(minimum), spec.get("maximum"), integer=kind == "integer", fraction_digits=digits
        )
    return None


def _fraction_digits(multiple_of: Any) -> int | None:
    """The decimals a ``multipleOf`` allows: none given, the cap; 1, 0.1, 0.01…, their decimals;
    any other step (0.25, 3) is not a number of decimals, so ``None``."""
    if multiple_of is None:
        return MAX_FRACTION_DIGITS
    if isinstance(multiple_of, bool) or not isinstance(multiple_of, int | float):
        return None
    steps = [digits for digits in range(MAX_FRACTION_DIGITS + 1) if multiple_of == 10.0**-digits]
    return steps[0] if steps else None


def _merge_literals(pieces: list[Piece]) -> Skeleton:
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, Literal) and merged and isinstance(merged[-1], Literal):
            merged[-1] = Literal(merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return tuple(merged)


def done(skeleton: Skeleton, cursor: Cursor) -> bool:
    """Whether the whole object has been read."""
    return cursor.index >= len(skeleton)


def advance(skeleton: Skeleton, cursor: Cursor, data: bytes) -> Cursor | None:
    """The cursor after ``data``, or ``None`` when ``data`` cannot continue the object."""
    for byte in data:
        next_cursor = _step(skeleton, cursor, byte)
        if next_cursor is None:
            return None
        cursor = next_cursor
    return cursor


def _step(skeleton: Skeleton, cursor: Cursor, byte: int) -> Cursor | None:
    while cursor.index < len(skeleton):
        piece = skeleton[cursor.index]
        if isinstance(piece, Literal):
            if piece.text[len(cursor.text)] != byte:
                return None
            text = cursor.text + bytes([byte])
            return Cursor(cursor.index + 1) if text == piece.text else Cursor(cursor.index, text)
        accepted = _accept(piece, cursor, byte)
        if accepted is not None:
            return accepted
        if not _complete(piece, cursor):
            return None
        cursor = Cursor(cursor.index + 1)  # the value ended; the byte belongs to what follows
    return None  # nothing may follow the closing brace


def _accept(slot: Slot, cursor: Cursor, byte: int) -> Cursor | None:
    """The cursor with ``byte`` added to the slot's value, or ``None`` if the value cannot take it."""
    if isinstance(slot, StringSlot):
        return _accept_string(slot, cursor, byte)
    text = cursor.text + bytes([byte])
    if isinstance(slot, EnumSlot):
        return replace(cursor, text=text) if any(o.startswith(text) for o in slot.options) else None
    return replace(cursor, text=text) if _number_prefix_ok(slot, text) else None


def _accept_string(slot: StringSlot, cursor: Cursor, byte: int) -> Cursor | None:
    if cursor.escape == 1:
        if byte == ord("u"):
            return replace(cursor, escape=5)
        return replace(cursor, escape=0, chars=cursor.chars + 1) if byte in _ESCAPES else None
    if cursor.escape > 1:
        if byte not in _HEX:
            return None
        chars = cursor.chars + (cursor.escape == 2)
        return replace(cursor, escape=cursor.escape - 1 if cursor.escape > 2 else 0, chars=chars)
    if cursor.utf8:
        return replace(cursor, utf8=cursor.utf8 - 1) if 0x80 <= byte <= 0xBF else None
    if byte == ord('"') or byte < 0x20 or 0x80 <= byte <= 0xC1 or byte > 0xF4:
        return None  # the closing quote, a control byte, or not a UTF-8 lead byte
    if slot.max_chars is not None and cursor.chars >= slot.max_chars:
        return None
    if byte == ord("\\"):
        return replace(cursor, escape=1)
    utf8 = 0 if byte < 0x80 else 1 if byte < 0xE0 else 2 if byte < 0xF0 else 3
    return replace(cursor, chars=cursor.chars + 1, utf8=utf8)


def _number_prefix_ok(slot: NumberSlot, text: bytes) -> bool:
    """Whether ``text`` can still grow into a number the slot allows."""
    whole, dot, fraction = text.partition(b".")
    if not whole or not set(whole) <= _DIGITS or (len(whole) > 1 and whole[0] == ord("0")):
        return False
    if dot and (slot.integer or not set(fraction) <= _DIGITS or len(fraction) > slot.fraction_digits):
        return False
    if dot and not slot.fraction_digits:
        return False
    value = float(whole + b"." + fraction) if fraction else float(whole)
    if slot.maximum is not None and value > slot.maximum:
        return False
    if not dot and whole != b"0":
        return True  # more integer digits can still reach any minimum
    ceiling = value + 10.0 ** -len(fraction) if dot else 1.0  # everything "0.x…" stays below this
    return ceiling > slot.minimum or value >= slot.minimum


def _can_grow(slot: NumberSlot, text: bytes) -> bool:
    """Whether a digit or a decimal point may still follow ``text``."""
    return any(_number_prefix_ok(slot, text + bytes([byte])) for byte in b"0123456789.")


def _complete(piece: Slot, cursor: Cursor) -> bool:
    """Whether the slot's value is whole, so the text after it may start."""
    if isinstance(piece, StringSlot):
        return cursor.chars >= piece.min_chars and not cursor.escape and not cursor.utf8
    if isinstance(piece, EnumSlot):
        return cursor.text in piece.options
    if not cursor.text or cursor.text.endswith(b"."):
        return False
    value = float(cursor.text)
    return value >= piece.minimum and (piece.maximum is None or value <= piece.maximum)


def forced(skeleton: Skeleton, cursor: Cursor) -> bytes:
    """The bytes that must come next, whatever the model prefers (empty when it has a choice).

    That is the rest of a literal, the rest of an enum option once only one fits, the closing
    quote of a string at its maximum length, and the end of a number that can take no further
    digit (at its last decimal, or at its maximum), each followed by whatever is forced after it.
    """
    out = b""
    while cursor.index < len(skeleton):
        piece = skeleton[cursor.index]
        if isinstance(piece, Literal):
            rest = piece.text[len(cursor.text) :]
        elif isinstance(piece, EnumSlot):
            fitting = [o for o in piece.options if o.startswith(cursor.text)]
            if len(fitting) != 1:
                return out
            rest = fitting[0][len(cursor.text) :]
        elif isinstance(piece, StringSlot) and piece.max_chars is not None:
            if cursor.chars < piece.max_chars or cursor.escape or cursor.utf8:
                return out
            rest = b""
        elif isinstance(piece, NumberSlot):
            if not _complete(piece, cursor) or _can_grow(piece, cursor.text):
                return out
            rest = b""
        else:
            return out
        out += rest
        cursor = Cursor(cursor.index + 1)
    return out


def key_slot(skeleton: Skeleton, schema: dict[str, Any], key: str) -> int:
    """The index in ``skeleton`` (compiled from ``schema``) of property ``key``'s value slot."""
    keys = list(schema.get("properties") or {})
    if key not in keys:
        raise InvalidInputError(f"{key!r} is not a key of the answer ({', '.join(keys)})", field="decoding")
    slots = [i for i, piece in enumerate(skeleton) if not isinstance(piece, Literal)]
    return slots[keys.index(key)]


def closed_after(skeleton: Skeleton, data: bytes, slot: int) -> bytes | None:
    """``data`` (text the skeleton accepted) cut just after slot ``slot``'s value and closed as a
    JSON object of the keys up to it, or ``None`` when ``data`` does not get past that value."""
    cursor = Cursor()
    for offset, byte in enumerate(data):
        after = _step(skeleton, cursor, byte)
        if after is None:
            return None
        if after.index > slot:  # this byte is the first of the text after the value
            quote = b'"' if isinstance(skeleton[slot], EnumSlot | StringSlot) else b""
            return data[:offset] + quote + b"}"
        cursor = after
    return None
