"""S3's wire format (pure): the XML documents botocore's ``s3`` model reads and writes, the
ListObjectsV2 paging rules, Range headers, S3's time formats and the bucket a virtual-hosted
request names in its Host.

Shapes follow botocore's ``s3/2006-03-01/service-2.json``: element names, the
``http://s3.amazonaws.com/doc/2006-03-01/`` namespace, ``EncodingType=url`` (botocore asks for it
on every listing and decodes keys, prefixes and delimiters when the answer says so).
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import quote

from stillhouse.errors import S3Error

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
OWNER_ID = "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a"
MAX_KEYS = 1000


def iso(at: datetime) -> str:
    """S3's XML timestamp: ``2026-01-02T03:04:05.000Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def http_date(at: datetime) -> str:
    return format_datetime(at, usegmt=True)


def document(
    root: str, children: list[tuple[str, object]], *, ns: str | None = NAMESPACE, text: str | None = None
) -> bytes:
    """An XML document; a child's value is text, a list of (name, value) pairs, or None (skipped)."""
    top = ET.Element(root, {"xmlns": ns} if ns else {})
    top.text = text
    _fill(top, children)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _fill(parent: ET.Element, children: list[tuple[str, object]]) -> None:
    for name, value in children:
        if value is None:
            continue
        child = ET.SubElement(parent, name)
        if isinstance(value, list):
            _fill(child, value)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = str(value)


_RESOURCE_FIELDS = {
    "NoSuchBucket": "BucketName",
    "NoSuchKey": "Key",
    "NoSuchUpload": "UploadId",
    "InvalidRange": "ActualObjectSize",
}


def error_document(code: str, message: str, resource: str | None, request_id: str) -> bytes:
    """S3's error body; the resource goes where S3 names it (BucketName, Key, UploadId, the
    object's size for InvalidRange)."""
    field = _RESOURCE_FIELDS.get(code, "Resource")
    return document(
        "Error",
        [("Code", code), ("Message", message), (field, resource), ("RequestId", request_id)],
        ns=None,
    )


def host_bucket(host: str, domains: Iterable[str]) -> str | None:
    """The bucket a virtual-hosted request names, Host ``BUCKET.DOMAIN[:PORT]`` for one of the
    server's own ``domains``; None for any other Host (a path-style request)."""
    name, colon, port = host.rpartition(":")
    name = (name if colon and port.isdigit() else host).lower().rstrip(".")
    for domain in domains:
        if name.endswith("." + domain) and len(name) > len(domain) + 1:
            return name[: -len(domain) - 1]
    return None


def own_domains(host: str) -> tuple[str, ...]:
    """The domains a bucket may be a subdomain of: ``localhost`` and the host the server was
    started on, unless that is a wildcard address (which no client puts in a Host)."""
    host = host.strip("[]").lower()
    return ("localhost",) if host in ("", "0.0.0.0", "::", "localhost") else (host, "localhost")


# ------------------------------------------------------------------------------------ parsing


def parse_xml(body: bytes) -> ET.Element:
    """A request document (namespaces stripped from tags); anything unreadable is MalformedXML."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
            400,
        ) from exc
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


def location_constraint(body: bytes) -> str | None:
    """CreateBucket's ``CreateBucketConfiguration/LocationConstraint`` (None without a body)."""
    if not body.strip():
        return None
    return (parse_xml(body).findtext("LocationConstraint") or "").strip() or None


def delete_request(body: bytes) -> tuple[list[str], bool]:
    """DeleteObjects' keys and its Quiet flag."""
    root = parse_xml(body)
    keys = [obj.findtext("Key") or "" for obj in root.findall("Object")]
    if not keys or len(keys) > 1000:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate", 400)
    return keys, (root.findtext("Quiet") or "").strip().lower() == "true"


def completed_parts(body: bytes) -> list[tuple[int, str]]:
    """CompleteMultipartUpload's ``(PartNumber, ETag)`` list, in the order the client sent it."""
    parts = []
    for part in parse_xml(body).findall("Part"):
        number, etag = part.findtext("PartNumber"), part.findtext("ETag")
        if not number or not number.strip().isdigit() or etag is None:
            raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate", 400)
        parts.append((int(number), etag.strip()))
    return parts


def content_md5(header: str) -> str:
    """Content-MD5 (base64) as hex; a value that is not a base64 MD5 is InvalidDigest."""
    try:
        raw = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 16:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)
    return raw.hex()


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` as an inclusive ``(first, last)``; None for the whole object (no
    header, or one S3 ignores: another unit, several ranges). Unsatisfiable: InvalidRange (416)."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_s, dash, last_s = header[6:].strip().partition("-")
    if not dash or not (first_s.isdigit() or last_s.isdigit()) or (first_s and not first_s.isdigit()):
        return None
    if last_s and not last_s.isdigit():
        return None
    if not first_s:  # the last N bytes
        n = int(last_s)
        if n == 0 or size == 0:
            raise _invalid_range(size)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size:
        raise _invalid_range(size)
    if last < first:
        return None  # S3 answers the whole object for bytes=5-2
    return first, last


def _invalid_range(size: int) -> S3Error:
    return S3Error("InvalidRange", "The requested range is not satisfiable", 416, resource=str(size))


# ------------------------------------------------------------------------------ ListObjectsV2


@dataclass(frozen=True)
class ListPage:
    keys: list[str]
    prefixes: list[str]
    truncated: bool
    next_token: str | None


def encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:  # ValueError: not ASCII, not UTF-8
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect", 400) from exc


def list_page(keys: list[str], prefix: str, delimiter: str, max_keys: int, after: str) -> ListPage:
    """One page over sorted ``keys``: those after ``after`` (a key or a common prefix already
    returned), folded into common prefixes at ``delimiter``, at most ``max_keys`` entries in all."""
    if max_keys == 0:
        return ListPage([], [], False, None)
    out_keys: list[str] = []
    out_prefixes: list[str] = []
    last: str | None = None
    for key in keys:
        if not key.startswith(prefix) or (
            after and (key <= after or (after.endswith(delimiter or "\0") and key.startswith(after)))
        ):
            continue
        entry, is_prefix = key, False
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                entry, is_prefix = key[: cut + len(delimiter)], True
        if entry == last:
            continue  # another key under the same common prefix
        if len(out_keys) + len(out_prefixes) == max_keys:
            return ListPage(out_keys, out_prefixes, True, encode_token(last) if last else None)
        (out_prefixes if is_prefix else out_keys).append(entry)
        last = entry
    return ListPage(out_keys, out_prefixes, False, None)


def url_encoded(value: str | None, encode: bool) -> str | None:
    return quote(value, safe="/") if encode and value is not None else value
